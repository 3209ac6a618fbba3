"""Real flow runs (Prefect test server, real spaCy model, real Parquet files)."""

from __future__ import annotations

import gzip
import json
import logging
import os
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from flows.preprocess import preprocess
from tasks.clean import AppliedEdit, replay
from tasks.entities.index import rebuild_entity_index

pytestmark = pytest.mark.usefixtures("prefect_harness")


def read(out: Path, table: str) -> list[dict]:
    path = out / table
    if not path.exists():
        return []
    return ds.dataset(path, format="parquet", partitioning="hive").to_table().to_pylist()


def edits_of(edits: list[dict], doc_id: str) -> list[AppliedEdit]:
    return [AppliedEdit(e["rule"], e["raw_start"], e["raw_end"], e["clean_start"], e["clean_end"],
                        e["before"], e["after"])
            for e in sorted((e for e in edits if e["doc_id"] == doc_id),
                            key=lambda e: e["edit_index"])]


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, sample_dir) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample-out")
    summary = preprocess(source=str(sample_dir), output=str(out))
    return out, summary


def test_sample_every_document_published(sample_run, sample_dir) -> None:
    out, summary = sample_run
    docs = read(out, "documents")
    n_inputs = (len(list(sample_dir.glob("articles/*.txt")))
                + len((sample_dir / "feeds" / "wires.jsonl").read_text().splitlines())
                + 5  # briefs.csv rows
                + 1)  # archive/older.txt.gz
    assert len(docs) == n_inputs == summary["documents"]
    assert read(out, "rejects") == []
    assert summary["status"] == "completed"
    assert not any((out / "_staging").glob("**/*.parquet"))
    jsonl = [d for d in docs if d["source"].endswith(".jsonl#1")]
    assert jsonl and jsonl[0]["external_id"] == "wire-2026-0001"
    assert json.loads(jsonl[0]["metadata"])["lang_src"] == "uk"


def test_sample_edits_replay_and_entity_offsets(sample_run) -> None:
    out, _ = sample_run
    docs = read(out, "documents")
    edits = read(out, "edits")
    entities = read(out, "entities")
    assert edits, "the sample has artifacts: the cleaner must have edited something"
    checked = 0
    for d in docs:
        de = edits_of(edits, d["doc_id"])
        assert replay(d["raw_text"], de) == d["clean_text"]
        assert d["n_edits"] == len(de)
        for e in de:
            assert d["raw_text"][e.raw_start:e.raw_end] == e.before
            assert d["clean_text"][e.clean_start:e.clean_end] == e.after
        for ent in (x for x in entities if x["doc_id"] == d["doc_id"]):
            assert d["clean_text"][ent["start_char"]:ent["end_char"]] == ent["text"]
            touched = any(e.raw_start < ent["raw_end"] and ent["raw_start"] < e.raw_end
                          for e in de)
            if not touched:
                assert d["raw_text"][ent["raw_start"]:ent["raw_end"]] == ent["text"]
                checked += 1
    assert checked > 100


def test_sample_seed_like_artifacts_fixed(sample_run) -> None:
    out, _ = sample_run
    docs = {Path(d["source"]).name: d for d in read(out, "documents")}
    kyiv = docs["01_kyiv_power_imports.txt"]
    assert "including including" in kyiv["raw_text"]
    assert "including including" not in kyiv["clean_text"]
    assert "Warsaw , which" in kyiv["raw_text"]
    assert "Warsaw, which" in kyiv["clean_text"]
    assert "Hrytsenko’s" in kyiv["clean_text"]
    # legitimate look-alikes untouched
    for keep in ("had had", "that that", "3.5 percent", "very, very", "U.S."):
        assert keep in kyiv["clean_text"]
    rules = {e["rule"] for e in read(out, "edits") if e["doc_id"] == kyiv["doc_id"]}
    assert {"duplicate_word", "punctuation_spacing", "encoding"} <= rules


def test_sample_sentences_and_entities(sample_run) -> None:
    out, _ = sample_run
    sents = read(out, "sentences")
    ents = read(out, "entities")
    docs = {d["doc_id"]: d for d in read(out, "documents")}
    assert len(sents) > 100
    for s in sents:
        assert docs[s["doc_id"]]["clean_text"][s["start_char"]:s["end_char"]] == s["text"]
    labels = {e["label"] for e in ents}
    assert {"GPE", "DATE"} <= labels
    for e in ents:
        sent = next(s for s in sents if s["doc_id"] == e["doc_id"]
                    and s["sent_index"] == e["sent_index"])
        assert sent["start_char"] <= e["start_char"] < sent["end_char"]


def test_tables_readable_by_duckdb(sample_run) -> None:
    out, summary = sample_run
    rows = duckdb.sql(f"""
        SELECT count(*) FROM read_parquet('{out}/documents/**/*.parquet', hive_partitioning=true) d
        JOIN read_parquet('{out}/runs/**/*.parquet', hive_partitioning=true) r USING (run_id)
        WHERE r.status = 'completed'""").fetchall()
    assert rows[0][0] == summary["documents"]


def test_rerun_skips_everything(tmp_path, sample_dir) -> None:
    out = tmp_path / "out"
    first = preprocess(source=str(sample_dir / "articles"), output=str(out))
    second = preprocess(source=str(sample_dir / "articles"), output=str(out))
    assert first["documents"] == 6 and second["documents"] == 0
    assert second["skipped"] == 6
    assert len(read(out, "documents")) == 6
    runs = sorted(read(out, "runs"), key=lambda r: r["started_at"])
    assert [json.loads(r["counts"])["skipped"] for r in runs] == [0, 6]
    third = preprocess(source=str(sample_dir / "articles"), output=str(out), reprocess=True)
    assert third["documents"] == 6


def test_bad_input_goes_to_rejects_and_nothing_is_lost(tmp_path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.txt").write_text("Officials met in Paris on Monday , officials said.\n")
    (src / "empty.txt").write_bytes(b"")
    (src / "nul.txt").write_bytes(b"\x00" * 64)
    (src / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (src / "latin1.txt").write_bytes("Le café de Zoë à Genève est fermé.".encode("latin-1"))
    (src / "feed.jsonl").write_text(
        json.dumps({"id": "a", "text": "The the mayor of Lyon spoke."}) + "\n"
        + '{"id": "b", "text": "broken\n'
        + json.dumps({"id": "c", "title": "no text here"}) + "\n"
        + json.dumps({"id": "d", "text": "Rain is expected in Oslo."}) + "\n")
    (src / "nocol.csv").write_text("id,body\n1,hello\n")
    (src / "dup.txt").write_text("Officials met in Paris on Monday , officials said.\n")
    long_text = " ".join(f"Envoy {i} met President Ana Ruiz in Lima ." for i in range(5000))
    long_text += " It was the the end."
    (src / "long.txt.gz").write_bytes(gzip.compress(long_text.encode()))
    summary = preprocess(source=str(src), output=str(tmp_path / "out"))
    out = tmp_path / "out"
    docs = read(out, "documents")
    rejects = read(out, "rejects")
    reasons = {Path(r["source"]).name: r["reason"] for r in rejects}
    assert reasons == {
        "empty.txt": "empty", "nul.txt": "binary", "image.txt": "binary",
        "feed.jsonl#2": "malformed_json", "feed.jsonl#3": "missing_text",
        "nocol.csv": "missing_column", sorted(["good.txt", "dup.txt"])[1]: "duplicate_text",
    }
    assert all(r["detail"] for r in rejects)
    names = sorted(Path(d["source"]).name for d in docs)
    assert names == sorted(["latin1.txt", "feed.jsonl#1", "feed.jsonl#4", "long.txt.gz",
                            sorted(["good.txt", "dup.txt"])[0]])
    # every input document is in exactly one table
    assert len(docs) + len(rejects) == 12
    assert summary["status"] == "completed_with_rejects"
    latin = next(d for d in docs if d["source"].endswith("latin1.txt"))
    assert latin["encoding_detected"] and "café" in latin["clean_text"]
    long_doc = next(d for d in docs if d["source"].endswith("long.txt.gz"))
    assert len(long_doc["raw_text"]) > 200_000  # annotated in pieces
    ents = [e for e in read(out, "entities") if e["doc_id"] == long_doc["doc_id"]]
    assert len(ents) > 4000
    assert long_doc["n_edits"] == 5001 and long_doc["clean_text"].endswith("was the end.")
    assert all(long_doc["clean_text"][e["start_char"]:e["end_char"]] == e["text"] for e in ents)
    assert all(long_doc["raw_text"][e["raw_start"]:e["raw_end"]] == e["text"] for e in ents)


def test_missing_source_fails_clearly(tmp_path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="does not exist"):
        preprocess(source=str(tmp_path / "nope"), output=str(tmp_path / "out"))


def test_unwritable_output_fails_and_keeps_earlier_output(tmp_path, sample_dir) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="cannot be written"):  # before anything starts
        preprocess(source=str(sample_dir / "articles"), output=str(blocker / "out"))
    assert blocker.read_text() == "not a folder"


def test_reject_threshold_fails_the_run_but_keeps_the_tables(tmp_path) -> None:
    from flows.preprocess import TooManyRejects

    src = tmp_path / "in"
    src.mkdir()
    (src / "good.txt").write_text("Rain is expected in Oslo on Friday.\n")
    (src / "empty.txt").write_text("")
    (src / "nul.txt").write_bytes(b"\x00" * 10)
    with pytest.raises(TooManyRejects, match="2 of 3 input documents were rejected"):
        preprocess(source=str(src), output=str(tmp_path / "out"), max_reject_fraction=0.5)
    assert len(read(tmp_path / "out", "documents")) == 1
    assert len(read(tmp_path / "out", "rejects")) == 2
    state = preprocess(source=str(src), output=str(tmp_path / "out2"), return_state=True)
    assert state.is_completed() and "2 rejects" in state.message


def test_oversized_inputs_are_rejected_and_the_rest_is_published(tmp_path) -> None:
    """A .gz expanding to 256 MiB of one line next to normal files: the run completes, the bomb
    is a too_large reject naming the file, the normal files are published."""
    src = tmp_path / "in"
    src.mkdir()
    block = gzip.compress(b"a" * (16 << 20), compresslevel=9)
    (src / "bomb.txt.gz").write_bytes(block * 16)
    (src / "bomb.jsonl.gz").write_bytes(
        gzip.compress(b'{"text": "Rain is expected in Oslo."}\n') + block * 16)
    (src / "good.txt").write_text("Officials met in Paris on Monday.\n")
    (src / "feed.jsonl").write_text(json.dumps({"text": "Snow fell in Bergen."}) + "\n")
    summary = preprocess(source=str(src), output=str(tmp_path / "out"),
                         max_document_bytes=1 << 20, max_file_bytes=64 << 20)
    out = tmp_path / "out"
    assert summary["status"] == "completed_with_rejects"
    assert sorted(Path(d["source"]).name for d in read(out, "documents")) == [
        "bomb.jsonl.gz#1", "feed.jsonl#1", "good.txt"]
    rejects = {Path(r["source"]).name: r for r in read(out, "rejects")}
    assert {k: r["reason"] for k, r in rejects.items()} == {
        "bomb.txt.gz": "too_large", "bomb.jsonl.gz#2-": "too_large"}
    assert str(src / "bomb.txt.gz") in rejects["bomb.txt.gz"]["detail"]
    assert rejects["bomb.jsonl.gz#2-"]["detail"].startswith(
        f"{src / 'bomb.jsonl.gz'} expands to more than 67,108,864 bytes (max_file_bytes)")
    assert summary["rejects_by_reason"] == {"too_large": 2}


def test_output_inside_the_source_is_not_read_back(tmp_path, caplog) -> None:
    """--source data --output data/out: later runs do not ingest their own tables or reports."""
    src = tmp_path / "data"
    src.mkdir()
    (src / "a.txt").write_text("Officials met in Paris on Monday.\n")
    (src / "b.jsonl").write_text(json.dumps({"text": "Snow fell in Bergen."}) + "\n")
    out = src / "out"
    with caplog.at_level(logging.WARNING, logger="tasks.ingest"):
        first = preprocess(source=str(src), output=str(out))
        assert (first["documents"], first["rejects"]) == (2, 0)
        assert list((out / "sentences").rglob("*.parquet")) and list((out / "reports").iterdir())
        second = preprocess(source=str(src), output=str(out))
        third = preprocess(source=str(src / "**"), output=str(out))
    for summary in (second, third):
        assert (summary["files"], summary["documents"], summary["rejects"], summary["skipped"]
                ) == (2, 0, 0, 2)
    assert len(read(out, "documents")) == 2 and read(out, "rejects") == []
    warned = [r.getMessage() for r in caplog.records if "inside the source" in r.getMessage()]
    assert warned == [f"the output folder {out} is inside the source {where}: its tables and "
                      "reports are not read as input" for where in (src, src, src / "**")]


def test_unchanged_rerun_records_nothing_again(tmp_path) -> None:
    """Duplicates and empty files are rejected once; an unchanged rerun skips them too, says
    "nothing new" and does not trip --max-reject-fraction."""
    src = tmp_path / "in"
    src.mkdir()
    for i, city in enumerate(["Oslo", "Lima", "Pune", "Graz"]):
        (src / f"good{i}.txt").write_text(f"Rain is expected in {city} on Friday.\n")
    (src / "copy-a.txt").write_text("The mayor of Lyon spoke on Monday.\n")
    (src / "copy-b.txt").write_text("The mayor of Lyon spoke on Monday.\n")
    (src / "empty-a.txt").write_bytes(b"")
    (src / "empty-b.txt").write_bytes(b"")
    (src / "blank-a.txt").write_bytes(b"  \n")
    (src / "blank-b.txt").write_bytes(b"  \n")
    out = tmp_path / "out"
    first = preprocess(source=str(src), output=str(out), max_reject_fraction=0.5)
    assert (first["documents"], first["rejects"]) == (5, 5)
    assert first["rejects_by_reason"] == {"empty": 4, "duplicate_text": 1}
    for _ in range(2):
        state = preprocess(source=str(src), output=str(out), max_reject_fraction=0.5,
                           return_state=True)
        assert state.is_completed(), state.message
        rerun = state.result()
        assert (rerun["documents"], rerun["rejects"], rerun["skipped"]) == (0, 0, 10)
    assert len(read(out, "documents")) == 5
    assert sorted(Path(r["source"]).name for r in read(out, "rejects")) == [
        "blank-a.txt", "blank-b.txt", "copy-b.txt", "empty-a.txt", "empty-b.txt"]
    runs = sorted(read(out, "runs"), key=lambda r: r["started_at"])
    assert [r["message"] for r in runs[1:]] == ["nothing new: 10 documents already published"] * 2


def test_bad_patterns_file_fails_before_anything_is_written(tmp_path) -> None:
    """An empty token list used to fail in the worker (spaCy E012), after a retry and after the
    runs row was written, naming no file; now the flow process refuses it first."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.txt").write_text("Officials met in Kyiv on Monday.\n")
    patterns = tmp_path / "patterns.jsonl"
    patterns.write_text('{"label": "GPE", "pattern": "Kyiv"}\n{"label": "X", "pattern": []}\n')
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=rf"entity_patterns\n  Value error, {patterns}:2: "
                       r"\"pattern\" is an empty list"):
        preprocess(source=str(src), output=str(out), entity_patterns=str(patterns))
    assert not out.exists()


def test_a_line_added_above_does_not_turn_old_rows_into_rejects(tmp_path) -> None:
    """Issue 14, finding 6: a line prepended to a JSONL file shifted every row's number, and the
    old rows came back as "same text as data.jsonl#1" while that line held other text."""
    src = tmp_path / "in"
    src.mkdir()
    rows = ["Rain is expected in Oslo on Friday.", "The mayor of Lima spoke on Monday.",
            "Pune opened a new bridge."]
    feed = src / "data.jsonl"
    feed.write_text("".join(json.dumps({"text": t}) + "\n" for t in rows))
    out = tmp_path / "out"
    first = preprocess(source=str(src), output=str(out))
    assert (first["documents"], first["rejects"]) == (3, 0)
    added = "Graz hosts a chess final this week."
    feed.write_text("".join(json.dumps({"text": t}) + "\n" for t in [added, *rows]))
    second = preprocess(source=str(src), output=str(out))
    assert (second["documents"], second["rejects"], second["skipped"], second["moved"]) == (
        1, 0, 3, 3)
    assert read(out, "rejects") == []
    published = {r["raw_text"]: r["source"] for r in read(out, "documents")}
    assert set(published) == {added, *rows}
    # the documents keep the source they were published from; sightings say where each
    # text is now, and point back to it
    feed_path = str(feed)
    seen = {(r["source"], r["row"], r["first_source"]) for r in read(out, "sightings")
            if r["run_id"] == second["run_id"]}
    assert seen == {(f"{feed_path}#{n + 2}", n + 2, published[t])
                    for n, t in enumerate(rows)} | {(f"{feed_path}#1", 1, f"{feed_path}#1")}
    # an unchanged rerun records no sighting again
    again = preprocess(source=str(src), output=str(out))
    assert (again["documents"], again["rejects"], again["sightings"]) == (0, 0, 0)
    # a copy of a row in another file is still a second copy, and seen at both places
    (src / "other.jsonl").write_text(json.dumps({"text": rows[1]}) + "\n")
    third = preprocess(source=str(src), output=str(out))
    assert third["rejects_by_reason"] == {"duplicate_text": 1}
    places = duckdb.sql(f"""
        SELECT s.source FROM read_parquet('{out}/sightings/**/*.parquet') s
        JOIN read_parquet('{out}/documents/**/*.parquet') d USING (doc_id)
        WHERE d.raw_text = '{rows[1]}' ORDER BY s.seen_at, s.source""").fetchall()
    assert [p for (p,) in places] == [f"{feed_path}#2", f"{feed_path}#3",
                                      str(src / "other.jsonl") + "#1"]


def test_a_file_named_like_a_row_is_not_a_row(tmp_path) -> None:
    """Issue 14, finding 8: ``x#1.txt`` read like row 1 of ``x``. Sightings give the file and
    the row as two columns, taken from the file being read rather than parsed from source."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "x.jsonl").write_text(json.dumps({"text": "Kiel won the regatta on Sunday."}) + "\n")
    (src / "x#1.txt").write_text("Minsk held a parade on Monday.")
    (src / "y#2").write_text("Turin reopened its museum.")  # no extension: a text file
    out = tmp_path / "out"
    summary = preprocess(source=str(src), output=str(out))
    assert summary["documents"] == 3
    places = {(r["source"], r["path"], r["row"]) for r in read(out, "sightings")}
    assert places == {(f"{src}/x.jsonl#1", f"{src}/x.jsonl", 1),
                      (f"{src}/x#1.txt", f"{src}/x#1.txt", None),
                      (f"{src}/y#2", f"{src}/y#2", None)}



def test_a_file_name_that_is_not_utf8_costs_no_document(tmp_path) -> None:
    """Issue 24, finding 2: ``latin\\xe9name.txt`` (a Latin-1 byte in the name, as on old Samba
    shares) failed the whole run in incoming_table, on every rerun. Its documents are published
    and its rejects recorded under the name with that byte escaped (``\\xe9``), which gives the
    file back; a rerun skips them."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.txt").write_text("Officials met in Paris on Monday.\n")
    raw = os.fsencode(src)
    for name, data in [(b"latin\xe9name.txt", b"Snow fell in Bergen on Friday.\n"),
                       (b"feed\xe9.jsonl", b'{"text": "Rain is expected in Oslo."}\n{"x": 1}\n'),
                       (b"empty\xff.txt", b"")]:
        with open(os.path.join(raw, name), "wb") as fh:
            fh.write(data)
    out = tmp_path / "out"
    summary = preprocess(source=str(src), output=str(out))
    assert (summary["status"], summary["documents"], summary["rejects"]) == (
        "completed_with_rejects", 3, 2)
    docs = {d["source"]: d["raw_text"] for d in read(out, "documents")}
    assert docs == {f"{src}/good.txt": "Officials met in Paris on Monday.\n",
                    f"{src}/latin\\xe9name.txt": "Snow fell in Bergen on Friday.\n",
                    f"{src}/feed\\xe9.jsonl#1": "Rain is expected in Oslo."}
    rejects = {r["source"]: (r["reason"], r["detail"]) for r in read(out, "rejects")}
    assert rejects == {
        f"{src}/feed\\xe9.jsonl#2": ("missing_text", "no 'text' field (fields: x)"),
        f"{src}/empty\\xff.txt": ("empty", f"{src}/empty\\xff.txt is empty or only white space")}
    # the escaped name gives the file back, byte for byte
    from tasks.ingest import file_path

    assert os.fsencode(file_path(f"{src}/latin\\xe9name.txt")) == os.path.join(
        raw, b"latin\xe9name.txt")
    places = {(r["source"], r["path"], r["row"]) for r in read(out, "sightings")}
    assert (f"{src}/feed\\xe9.jsonl#2", f"{src}/feed\\xe9.jsonl", 2) in places
    assert (f"{src}/latin\\xe9name.txt", f"{src}/latin\\xe9name.txt", None) in places
    assert "latin\\xe9name.txt" in Path(summary["report"]).read_text()
    again = preprocess(source=str(src), output=str(out))
    assert (again["documents"], again["rejects"], again["skipped"]) == (0, 0, 5)
    assert len(read(out, "documents")) == 3 and len(read(out, "rejects")) == 2


def same_folder_texts(src: Path) -> None:
    """Two texts, a feed of two rows, a copy of a text and an empty file: documents published
    whole and by row, a duplicate_text reject and a file-level reject."""
    src.mkdir()
    (src / "a.txt").write_text("Officials met in Paris on Monday.\n")
    (src / "b.txt").write_text("Snow fell in Bergen on Friday.\n")
    (src / "copy.txt").write_text("Officials met in Paris on Monday.\n")
    (src / "empty.txt").write_bytes(b"")
    (src / "feed.jsonl").write_text(json.dumps({"text": "Rain is expected in Oslo."}) + "\n"
                                    + json.dumps({"text": "Lima opened a new bridge."}) + "\n")


def assert_nothing_new(out: Path, sources: list[str], documents: int, rejects: int) -> None:
    """Reruns of the sources publish nothing, reject nothing, and complete."""
    for source in sources:
        state = preprocess(source=source, output=str(out), max_reject_fraction=0.5,
                           return_state=True)
        assert state.is_completed(), (source, state.message)
        rerun = state.result()
        assert (rerun["documents"], rerun["rejects"], rerun["skipped"]) == (
            0, 0, documents + rejects), source
    assert len(read(out, "documents")) == documents
    assert len(read(out, "rejects")) == rejects


def test_the_same_folder_spelled_another_way_is_the_same_source(tmp_path, monkeypatch) -> None:
    """Issue 24, finding 3: ``x/../x``, a relative path or a symlink to the folder made every
    document a duplicate_text reject of itself. A source is recorded by its resolved absolute
    path, so every spelling of the folder (or of a file in it) names the same sources."""
    src = tmp_path / "in"
    same_folder_texts(src)
    (tmp_path / "link").symlink_to(src, target_is_directory=True)
    (tmp_path / "b-link.txt").symlink_to(src / "b.txt")
    out = tmp_path / "out"
    first = preprocess(source=str(src), output=str(out), max_reject_fraction=0.5)
    assert (first["documents"], first["rejects"]) == (4, 2)
    assert first["rejects_by_reason"] == {"duplicate_text": 1, "empty": 1}
    docs = {d["source"] for d in read(out, "documents")}
    assert docs == {f"{src}/a.txt", f"{src}/b.txt", f"{src}/feed.jsonl#1", f"{src}/feed.jsonl#2"}
    monkeypatch.chdir(tmp_path)
    assert_nothing_new(out, [f"{src}/../in", "in", "./in/", "link", str(tmp_path / "link"),
                             "link/../in", f"{tmp_path}/link/*"], documents=4, rejects=2)
    # a symlink to one file of the folder names that file
    again = preprocess(source="b-link.txt", output=str(out))
    assert (again["documents"], again["rejects"], again["skipped"]) == (0, 0, 1)
    assert {r["source"] for r in read(out, "sightings")} == docs | {f"{src}/copy.txt",
                                                                   f"{src}/empty.txt"}


def test_a_rerun_by_this_version_of_an_output_whose_sources_were_typed(tmp_path,
                                                                       monkeypatch) -> None:
    """Earlier versions recorded a source as typed, often relative to the folder the run was
    started in ("in/a.txt"); a rerun of the same files by this version, under any spelling and
    from any folder, still publishes nothing new and rejects nothing. A relative source is
    resolved against the folder its run was started in (its runs row: the absolute source
    against the one given)."""
    project = tmp_path / "project"
    project.mkdir()
    src = project / "in"
    same_folder_texts(src)
    out = tmp_path / "out"
    monkeypatch.chdir(project)
    first = preprocess(source="in", output=str(out), max_reject_fraction=0.5)
    assert (first["documents"], first["rejects"]) == (4, 2)
    # the output as an earlier version wrote it: sources as typed, relative to the project
    for table in ("documents", "rejects", "sightings"):
        for part in (out / table).rglob("*.parquet"):
            data = pq.read_table(part)
            for name in ("source", "path", "first_source"):
                if name in data.column_names:
                    typed = pc.replace_substring(data.column(name), f"{src}/", "in/")
                    data = data.set_column(data.column_names.index(name), name, typed)
            pq.write_table(data, part)
    rebuild_entity_index(str(out))  # the state, as that version's run left it
    assert {d["source"] for d in read(out, "documents")} == {
        "in/a.txt", "in/b.txt", "in/feed.jsonl#1", "in/feed.jsonl#2"}
    (tmp_path / "link").symlink_to(src, target_is_directory=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the relative sources name files of the project, not of here
    assert_nothing_new(out, [str(src), "../project/in", str(tmp_path / "link"), "../link"],
                       documents=4, rejects=2)


def test_a_parquet_bomb_is_one_too_large_reject_from_its_footer(tmp_path) -> None:
    """Issue 24, finding 4: 24 rows of 4 MiB in a few KB of zstd were read (and held) whole,
    past max_file_bytes; the footer's uncompressed size now rejects the file unread."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "in"
    src.mkdir()
    bomb = src / "bomb.parquet"
    pq.write_table(pa.table({"text": [f"{i:04d}" + "a" * (4 << 20) for i in range(24)]}), bomb,
                   compression="zstd")
    assert bomb.stat().st_size < 100_000
    (src / "good.txt").write_text("Officials met in Paris on Monday.\n")
    out = tmp_path / "out"
    summary = preprocess(source=str(src), output=str(out), max_document_bytes=1 << 20,
                         max_file_bytes=16 << 20)
    assert (summary["status"], summary["documents"], summary["rejects"]) == (
        "completed_with_rejects", 1, 1)
    assert [d["source"] for d in read(out, "documents")] == [str(src / "good.txt")]
    [reject] = read(out, "rejects")
    stated = pq.ParquetFile(bomb).metadata.row_group(0).total_byte_size
    assert (reject["source"], reject["reason"], reject["detail"]) == (
        str(bomb), "too_large", f"{bomb}: its Parquet footer states {stated:,} bytes "
        "uncompressed, more than 16,777,216 (max_file_bytes); no row was read: split it or "
        "raise the limit")


def test_rules_given_empty_is_refused_before_anything_is_written(tmp_path) -> None:
    """Issue 24, finding 5: ``rules=[]`` was recorded in the run while every rule ran."""
    from pydantic import ValidationError

    out = tmp_path / "out"
    with pytest.raises(ValidationError, match="no rule given"):
        preprocess(source=str(tmp_path), output=str(out), rules=[])
    assert not out.exists()


@pytest.mark.parametrize("runner", ["thread", "process"])
def test_a_document_past_the_time_budget_is_a_too_slow_reject(tmp_path, runner) -> None:
    """A 900 KB one-line document with a budget of 0.05 s, in the flow process (a worker thread:
    no signal can reach it) and in a pool worker: it is a too_slow reject naming its source and
    the budget, the documents beside it in its batch are published."""
    from bench.long_lines import one_line

    src = tmp_path / "in"
    src.mkdir()
    (src / "a-loop.txt").write_text(one_line("repeated", 900_000), encoding="utf-8")
    (src / "b-good.txt").write_text("Officials met in Paris on Monday.\n")
    (src / "c-feed.jsonl").write_text(json.dumps({"text": "Snow fell in Bergen."}) + "\n")
    summary = preprocess(source=str(src), output=str(tmp_path / "out"), runner=runner,
                         workers=1, max_document_seconds=0.05)
    out = tmp_path / "out"
    assert summary["status"] == "completed_with_rejects"
    assert sorted(Path(d["source"]).name for d in read(out, "documents")) == [
        "b-good.txt", "c-feed.jsonl#1"]
    rejects = read(out, "rejects")
    assert [(Path(r["source"]).name, r["reason"]) for r in rejects] == [("a-loop.txt", "too_slow")]
    assert rejects[0]["detail"].startswith(
        f"{src / 'a-loop.txt'}: cleaning took longer than its budget of 0.05 s "
        "(max_document_seconds)")
    assert summary["rejects_by_reason"] == {"too_slow": 1}
    assert summary["documents"] == 2


def test_ten_thousand_tiny_files_each_published_once(tmp_path) -> None:
    """Issue 24: a folder of 10,000 one-sentence files (a mail spool, a scraper's output) is a
    run like any other: every file a document, once; a rerun publishes and rejects nothing."""
    import time

    root = tmp_path / "many"
    for i in range(100):
        sub = root / f"d{i:02d}"
        sub.mkdir(parents=True)
        for j in range(100):
            (sub / f"f{j:02d}.txt").write_text(f"Note {i * 100 + j} was filed in Vilnius.\n")
    out = tmp_path / "out"
    started = time.perf_counter()
    first = preprocess(source=str(root), output=str(out), runner="thread")
    took = time.perf_counter() - started
    assert (first["documents"], first["rejects"]) == (10_000, 0), first
    docs = read(out, "documents")
    assert len(docs) == len({d["doc_id"] for d in docs}) == 10_000
    assert len({d["source"] for d in docs}) == 10_000
    again = preprocess(source=str(root), output=str(out), runner="thread")
    assert (again["documents"], again["rejects"], again["skipped"]) == (0, 0, 10_000), again
    assert len(read(out, "documents")) == 10_000
    print(f"10,000 tiny files: {took:.1f} s")  # shown with -s; the figure is in docs/operations.md
