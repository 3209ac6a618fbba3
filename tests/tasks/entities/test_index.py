"""The incremental entity index: each run folds its documents in, and the result is the index
``build_entity_index`` computes from every published table at once."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench.synthetic import write_output
from schemas.tables import TABLES
from store import PublishedLookup, published_ids, state, table_dataset
from tasks.entities.document import build_entity_index
from tasks.entities.index import published_runs, rebuild_entity_index, update_entity_index

RUN_TABLES = ("documents", "entities", "sightings", "rejects", "edits", "flags", "sentences",
              "runs")


def reference(out: Path) -> list[str]:
    ents = table_dataset(out, "entities").to_table(
        columns=["doc_id", "run_id", "canonical", "label", "start_char", "end_char"])
    docs = table_dataset(out, "documents").to_table(
        columns=["doc_id", "run_id", "processed_at", "clean_text"])
    return rows(build_entity_index(ents, docs))


def rows(table: pa.Table) -> list[str]:
    return sorted(repr(sorted(r.items())) for r in table.to_pylist())


def index(out: Path) -> pa.Table:
    return pq.read_table(out / "entity_index" / "index.parquet")


def publish(out: Path, run: int, docs: list[tuple[str, list[tuple[str, str]]]],
            when: datetime | None = None) -> str:
    """One run's documents, each a text and its (name, label) mentions, as a run publishes."""
    run_id = f"r2026010{run}T000000-test{run:04d}"
    at = when or datetime(2026, 1, run, tzinfo=UTC)
    documents, entities = [], []
    for n, (text, names) in enumerate(docs):
        doc_id = hashlib.sha256(text.encode()).hexdigest()
        documents.append({
            "doc_id": doc_id, "source": f"in/{run}-{n}.txt", "external_id": None,
            "raw_text": text, "clean_text": text, "encoding": "utf-8",
            "encoding_detected": False, "metadata": None, "n_edits": 0, "n_flags": 0,
            "n_sentences": 1, "n_entities": len(names), "cleaner_version": "c", "model": "m",
            "run_id": run_id, "processed_at": at})
        for i, (name, label) in enumerate(names):
            start = text.index(name)
            entities.append({
                "doc_id": doc_id, "ent_index": i, "sent_index": 0, "start_char": start,
                "end_char": start + len(name), "raw_start": start,
                "raw_end": start + len(name), "text": name, "label": label,
                "model_label": label, "canonical": name, "source": "model", "run_id": run_id})
    for name, table_rows in (("documents", documents), ("entities", entities)):
        path = out / name / f"run_id={run_id}" / "part-000000.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(table_rows, schema=TABLES[name]), path)
    return run_id


def entity_of(out: Path, canonical: str) -> str:
    found = [r for r in index(out).to_pylist() if r["canonical"] == canonical]
    assert len(found) == 1, found
    return found[0]["entity_id"]


def test_a_run_that_adds_a_variant_joins_its_group(tmp_path) -> None:
    publish(tmp_path, 1, [("Volodymyr Zelensky met Olaf Brandt in Kyiv.",
                           [("Volodymyr Zelensky", "PERSON"), ("Olaf Brandt", "PERSON"),
                            ("Kyiv", "GPE")]),
                          ("Volodymyr Zelensky spoke in Kharkiv.",
                           [("Volodymyr Zelensky", "PERSON"), ("Kharkiv", "GPE")])])
    update_entity_index(str(tmp_path))
    before = {r["canonical"]: r for r in index(tmp_path).to_pylist()}
    assert set(before) == {"Volodymyr Zelensky", "Olaf Brandt", "Kyiv", "Kharkiv"}
    # the second run brings a romanisation of the name and the old exonym of the city
    publish(tmp_path, 2, [("Volodymyr Zelenskyy arrived in Kiev on Monday.",
                           [("Volodymyr Zelenskyy", "PERSON"), ("Kiev", "GPE")])])
    done = update_entity_index(str(tmp_path))
    assert done["runs_folded"] == 1
    assert entity_of(tmp_path, "Volodymyr Zelenskyy") == entity_of(tmp_path, "Volodymyr Zelensky")
    assert entity_of(tmp_path, "Kiev") == entity_of(tmp_path, "Kyiv")
    assert entity_of(tmp_path, "Kharkiv") != entity_of(tmp_path, "Kyiv")
    row = next(r for r in index(tmp_path).to_pylist() if r["canonical"] == "Kiev")
    assert "exonym" in row["merge_evidence"]
    assert rows(index(tmp_path)) == reference(tmp_path)


def test_a_new_full_name_parts_a_short_form_from_the_other(tmp_path) -> None:
    """"Brandt" alone joined the only Brandt with a full name; a run that brings a second one
    makes it ambiguous: the short form stands alone again (a name the run did not mention)."""
    publish(tmp_path, 1, [("Olaf Brandt spoke.", [("Olaf Brandt", "PERSON")]),
                          ("Brandt left early.", [("Brandt", "PERSON")])])
    update_entity_index(str(tmp_path))
    assert entity_of(tmp_path, "Brandt") == entity_of(tmp_path, "Olaf Brandt")
    publish(tmp_path, 2, [("Marta Brandt won.", [("Marta Brandt", "PERSON")])])
    update_entity_index(str(tmp_path))
    assert entity_of(tmp_path, "Brandt") not in {entity_of(tmp_path, "Olaf Brandt"),
                                                 entity_of(tmp_path, "Marta Brandt")}
    assert rows(index(tmp_path)) == reference(tmp_path)


def test_a_document_processed_again_counts_once_in_its_latest_version(tmp_path) -> None:
    text = "Olaf Brandt met Ina Sorel."
    publish(tmp_path, 1, [(text, [("Olaf Brandt", "PERSON"), ("Ina Sorel", "PERSON")])])
    update_entity_index(str(tmp_path))
    # the same document again (a new cleaner), where the model now sees only one name
    publish(tmp_path, 2, [(text, [("Olaf Brandt", "ORG")])])
    update_entity_index(str(tmp_path))
    got = {(r["canonical"], r["label"]): r for r in index(tmp_path).to_pylist()}
    assert set(got) == {("Olaf Brandt", "ORG")}
    assert got[("Olaf Brandt", "ORG")]["n_documents"] == 1
    assert rows(index(tmp_path)) == reference(tmp_path)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    write_output(out, 1200, 6, seed=3, batch_size=100)
    return out


def test_folding_run_by_run_equals_the_index_of_every_table_at_once(synthetic, tmp_path) -> None:
    out = tmp_path / "out"
    runs = published_runs(str(synthetic))
    for i, run_id in enumerate(runs):
        for name in RUN_TABLES:
            src = synthetic / name / f"run_id={run_id}"
            if src.exists():
                shutil.copytree(src, out / name / f"run_id={run_id}")
        done = update_entity_index(str(out))
        assert done["runs_folded"] == 1
        assert done["names_touched"] > 0
        if i:  # later runs regroup a region around their names, not the whole corpus
            assert done["facts"] < len(index(out))
    assert rows(index(out)) == reference(synthetic)
    # and a rebuild from the tables alone, a few runs at a time, gives the same index
    before = index(out)
    rebuilt = rebuild_entity_index(str(out), max_documents=300, group_names_at_once=200)
    assert rebuilt["chunks"] == 6 and rebuilt["group_parts"] > 1
    assert rows(index(out)) == rows(before)
    assert set(state.load(out).folded) == set(runs)


def test_a_fold_that_died_before_its_commit_is_done_again_once(synthetic, tmp_path) -> None:
    out = tmp_path / "out"
    shutil.copytree(synthetic, out, ignore=shutil.ignore_patterns("_index", "entity_index"))
    snapshot = state.load(out)
    from tasks.entities.index import fold_runs

    # a run that wrote its new bucket files and died before the manifest named them
    fold = fold_runs(str(out), snapshot, published_runs(str(out)))
    state.stage(snapshot, fold.changes)
    assert state.load(out).folded == []
    update_entity_index(str(out))
    assert rows(index(out)) == reference(synthetic)
    named = {f for held in state.load(out).files.values() for f in held.values()}
    on_disk = {str(p.relative_to(out)) for p in (out / "_index").rglob("*.parquet")}
    assert on_disk == named  # the dead fold's files were collected


def test_a_fold_frees_its_lookups_and_gives_arrow_its_pool_back(synthetic, tmp_path,
                                                              monkeypatch) -> None:
    """The fold's memory (docs/benchmarks.md): its DuckDB connection is closed when the region
    is decided, not left to the garbage collector, and Arrow's default pool is the system
    allocator only while it runs."""
    import tasks.entities.index as index_module

    out = tmp_path / "out"
    shutil.copytree(synthetic, out, ignore=shutil.ignore_patterns("_index", "entity_index"))
    made, pools = [], []
    real_lookup, real_decide = index_module.Lookup, index_module._decide

    class Recorded(real_lookup):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    def decide(*args, **kwargs):
        pools.append(pa.default_memory_pool().backend_name)
        return real_decide(*args, **kwargs)

    monkeypatch.setattr(index_module, "Lookup", Recorded)
    monkeypatch.setattr(index_module, "_decide", decide)
    before = pa.default_memory_pool().backend_name
    update_entity_index(str(out))
    assert made and pools == ["system"] * len(pools)
    assert pa.default_memory_pool().backend_name == before
    for lookup in made:
        with pytest.raises(Exception, match="(?i)closed"):
            lookup.con.execute("SELECT 1")
    assert rows(index(out)) == reference(synthetic)


def test_the_skip_check_reads_the_batch_not_the_output(synthetic, tmp_path) -> None:
    out = tmp_path / "out"
    shutil.copytree(synthetic, out, ignore=shutil.ignore_patterns("_index", "entity_index"))
    update_entity_index(str(out))
    docs = table_dataset(out, "documents").to_table(columns=["doc_id", "source"])
    doc_id, source = docs.column("doc_id")[5].as_py(), docs.column("source")[5].as_py()
    lookup = PublishedLookup(out, "synthetic", "synthetic")
    assert lookup.pending == {"documents": [], "rejects": [], "sightings": []}  # all folded
    seen = lookup([doc_id, "0" * 64])
    assert seen.documents == {doc_id: source}
    assert seen.inputs == {(doc_id, source)}
    # one bucket of the state is read for one document, and the answer is the whole output's
    assert len(lookup.snapshot.paths("ids", state.buckets_of([doc_id]))) == 1
    every = published_ids(out, "synthetic", "synthetic")
    assert every.documents[doc_id] == source and len(every.documents) == docs.num_rows
    assert PublishedLookup(out, "other", "synthetic")([doc_id]).inputs == set()


def test_runs_published_since_the_last_fold_are_seen_by_the_skip_check(tmp_path) -> None:
    """A run that died before its end-of-run step left its batches published, not folded."""
    run_id = publish(tmp_path, 1, [("Ina Sorel spoke.", [("Ina Sorel", "PERSON")])],
                     when=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=1))
    doc_id = hashlib.sha256(b"Ina Sorel spoke.").hexdigest()
    lookup = PublishedLookup(tmp_path, "c", "m")
    assert len(lookup.pending["documents"]) == 1
    assert lookup([doc_id]).documents == {doc_id: "in/1-0.txt"}
    update_entity_index(str(tmp_path))
    assert state.load(tmp_path).folded == [run_id]
    assert PublishedLookup(tmp_path, "c", "m")([doc_id]).documents == {doc_id: "in/1-0.txt"}


def test_a_run_that_defines_no_acronym_leaves_the_definitions_file_alone(tmp_path) -> None:
    """The acronym definitions are one file for the whole output; a run used to rewrite it
    whatever it brought, a cost that grew with the corpus."""
    publish(tmp_path, 1, [("The Tarvo Grain Agency (TGA) met in Kyiv.",
                           [("Tarvo Grain Agency", "ORG"), ("TGA", "ORG"), ("Kyiv", "GPE")])])
    update_entity_index(str(tmp_path))
    files = state.load(str(tmp_path)).files["definitions"]
    publish(tmp_path, 2, [("Olaf Brandt spoke in Kyiv.",
                           [("Olaf Brandt", "PERSON"), ("Kyiv", "GPE")])])
    assert update_entity_index(str(tmp_path))["runs_folded"] == 1
    assert state.load(str(tmp_path)).files["definitions"] == files
    assert rows(index(tmp_path)) == reference(tmp_path)
    publish(tmp_path, 3, [("The Odra Port Authority (OPA) said so.",
                           [("Odra Port Authority", "ORG"), ("OPA", "ORG")])])
    update_entity_index(str(tmp_path))
    assert state.load(str(tmp_path)).files["definitions"] != files
    assert rows(index(tmp_path)) == reference(tmp_path)


def files_of(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("killed_at", [2, 7], ids=["folding", "grouped"])
def test_a_rebuild_killed_midway_leaves_the_state_and_the_index_as_they_were(
        synthetic, tmp_path, killed_at: int) -> None:
    """A rebuild writes its new state as a draft, one bucket at a time, and makes it current
    in one commit after the index: killed while folding the runs or deciding the entities
    (a SIGKILL, as a crash), it leaves every file as it was; the next rebuild finishes. (Six
    chunks of one run, then one part of names: the 7th failpoint is after the grouping.)"""
    import os
    import subprocess
    import sys

    out = tmp_path / "out"
    shutil.copytree(synthetic, out)
    update_entity_index(str(out))
    before = files_of(out)
    repo = Path(__file__).resolve().parents[3]
    command = [sys.executable, "-m", "tasks.entities.index", "--output", str(out), "--rebuild",
               "--max-documents", "300"]
    env = dict(os.environ, MTCLEAN_FAILPOINT=f"rebuild:{killed_at}")
    died = subprocess.run(command, capture_output=True, text=True, cwd=repo, env=env,
                          timeout=300)
    assert died.returncode == -9, died.stderr
    left = files_of(out)
    drafted = set(left) - set(before)
    assert drafted and all(f.startswith("_index/") for f in drafted)  # the draft's, unnamed
    assert {f: left[f] for f in before} == before  # the state and the index: untouched
    env.pop("MTCLEAN_FAILPOINT")
    done = subprocess.run(command, capture_output=True, text=True, cwd=repo, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert rows(index(out)) == reference(synthetic)
    named = {f for held in state.load(out).files.values() for f in held.values()}
    assert {f for f in files_of(out) if f.startswith("_index/")} == named | {state.MANIFEST}


def test_a_rebuild_decides_its_parts_on_a_dask_cluster_as_in_one_process(synthetic, tmp_path
                                                                        ) -> None:
    """The parts are whole components, so independent: decided on two worker processes, in
    the order they finish, against the draft as it was, they give the same index; the draft's
    files the workers read are deleted once every part is written."""
    from distributed import LocalCluster

    out = tmp_path / "out"
    shutil.copytree(synthetic, out)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0", host="127.0.0.1") as cluster:
        done = rebuild_entity_index(str(out), max_documents=300, group_names_at_once=200,
                                    dask_address=cluster.scheduler_address)
    assert done["group_parts"] > 1
    assert rows(index(out)) == reference(synthetic)
    named = {f for held in state.load(out).files.values() for f in held.values()}
    assert {f for f in files_of(out) if f.startswith("_index/")} == named | {state.MANIFEST}


@pytest.mark.parametrize("module", ["tasks.entities.index", "tasks.entity_index"],
                         ids=["command", "former-command"])
def test_the_command_line_runs_by_its_name_and_its_former_one(module: str, tmp_path: Path) -> None:
    """``python -m tasks.entities.index`` folds published runs in; ``python -m
    tasks.entity_index`` (its name before the stages had folders) still does the same."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-m", module, "--output", str(tmp_path)],
                          capture_output=True, text=True, cwd=repo, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("{")
