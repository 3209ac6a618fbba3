"""The run report and the entity index, from a real flow run on the sample articles."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from flows.preprocess import preprocess
from schemas.tables import ENTITY_INDEX_V3
from tasks.report.page import render_document

pytestmark = pytest.mark.usefixtures("prefect_harness")

REPO = Path(__file__).resolve().parents[3]


def test_render_document_marks_entities_edits_and_flags() -> None:
    text = "Kyiv said that it had <b>power."
    entities = [{"start_char": 0, "end_char": 4, "label": "GPE", "text": "Kyiv",
                 "canonical": "Kyiv", "source": "ruler", "model_label": "PERSON"}]
    edits = [{"clean_start": 10, "clean_end": 14, "before": "that that", "after": "that",
              "rule": "duplicate_word"},
             {"clean_start": 21, "clean_end": 21, "before": "  ", "after": "",
              "rule": "whitespace"}]
    flags = [{"clean_start": 15, "clean_end": 21, "rule": "broken_sentence",
              "message": "looks cut"}]
    assert render_document(text, entities, edits, flags) == (
        '<mark class="entity" style="background: #feca74" '
        'title="GPE | source: ruler | model said: PERSON">Kyiv'
        '<span class="ent-label">GPE</span></mark> said '
        '<del title="duplicate_word: &#x27;that that&#x27; -&gt; &#x27;that&#x27;">that that</del>'
        '<ins title="duplicate_word: &#x27;that that&#x27; -&gt; &#x27;that&#x27;">that</ins> '
        '<span class="flag" title="broken_sentence: looks cut">it had</span>'
        '<del title="whitespace: &#x27;  &#x27; -&gt; &#x27;&#x27;">\u00b7\u00b7</del> '
        "&lt;b&gt;power.")


@pytest.fixture(scope="module")
def articles_run(tmp_path_factory, sample_dir) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("report-out")
    summary = preprocess(source=str(sample_dir / "articles"), output=str(out), runner="thread",
                         entity_patterns=str(REPO / "config" / "entity_patterns.example.jsonl"))
    return out, summary


def test_report_is_self_contained_and_marks_entities_and_edits(articles_run) -> None:
    out, summary = articles_run
    path = out / "reports" / f"{summary['run_id']}.html"
    assert summary["report"] == str(path)
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(", page, re.IGNORECASE)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)
    assert '<mark class="entity" style="background: #aa9cfc"' in page  # a PERSON
    assert re.search(r'<span class="ent-label">GPE</span></mark>', page)
    assert re.search(r'<del title="duplicate_word: [^"]*">', page)
    assert re.search(r'<ins title="encoding: [^"]*">', page)
    assert '<span class="flag" title="' in page
    assert page.count("<svg") == 3  # edits, flags, entities (no rejects: "none")
    assert page.count("<article") == summary["documents"] == 6


def test_entity_index_matches_the_entities_table(articles_run) -> None:
    out, summary = articles_run
    index = pq.read_table(out / "entity_index" / "index.parquet")
    assert index.schema.equals(ENTITY_INDEX_V3, check_metadata=True)
    entities = ds.dataset(out / "entities", format="parquet", partitioning="hive").to_table()
    mentions = Counter(zip(entities.column("canonical").to_pylist(),
                           entities.column("label").to_pylist()))
    rows = {(r["canonical"], r["label"]): r for r in index.to_pylist()}
    assert {k: r["n_mentions"] for k, r in rows.items()} == dict(mentions)
    assert sum(r["n_mentions"] for r in rows.values()) == summary["entities"]
    assert rows[("Kyiv", "GPE")]["n_documents"] == 1  # "KYIV" dateline, via the pattern's id
    assert rows[("Oksana Hrytsenko", "PERSON")]["n_mentions"] == 2  # "Hrytsenko" joins her
    assert all(r["first_seen"] <= r["last_seen"] for r in rows.values())
    # every mention has its entity: entities JOIN entity_index USING (canonical, label)
    joined = duckdb.sql(
        f"SELECT e.canonical, i.entity_id, i.entity_canonical FROM read_parquet("
        f"'{out}/entities/**/*.parquet', hive_partitioning=true) e JOIN read_parquet("
        f"'{out}/entity_index/index.parquet') i USING (canonical, label)").fetchall()
    assert len(joined) == summary["entities"]
    assert all(len(entity_id) == 16 for _, entity_id, _ in joined)
    docs = ds.dataset(out / "documents", format="parquet", partitioning="hive").to_table()
    assert all(m.endswith("+patterns:" + m.split(":")[-1]) for m in
               docs.column("model").to_pylist())



def test_rerun_with_nothing_new_keeps_the_index(articles_run, sample_dir) -> None:
    out, summary = articles_run
    before = pq.read_table(out / "entity_index" / "index.parquet").to_pylist()
    again = preprocess(source=str(sample_dir / "articles"), output=str(out), runner="thread",
                       entity_patterns=str(REPO / "config" / "entity_patterns.example.jsonl"))
    assert (again["documents"], again["skipped"]) == (0, summary["documents"])
    assert pq.read_table(out / "entity_index" / "index.parquet").to_pylist() == before
    assert (out / "reports" / f"{again['run_id']}.html").exists()


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_hostile_names_and_texts_are_escaped_everywhere() -> None:
    """Every value the page shows is escaped: a file name, a rule's message, a reject's detail,
    a label, the run's status; the page has no element the values did not come with."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from schemas.tables import TABLES
    from tasks.report.page import build_report

    doc = {f.name: None for f in TABLES["documents"]}
    doc.update(doc_id="d" * 64, source=f"in/{HOSTILE}.txt", external_id=None,
               raw_text=HOSTILE, clean_text=f"Kyiv {HOSTILE}", encoding="utf-8",
               encoding_detected=False, metadata=None, n_edits=0, n_flags=1, n_sentences=1,
               n_entities=1, cleaner_version=f"c{HOSTILE}", model=f"m{HOSTILE}", run_id="r1",
               processed_at=datetime.now(UTC))
    flag = {"doc_id": "d" * 64, "flag_index": 0, "rule": "broken_sentence", "raw_start": 5,
            "raw_end": 13, "clean_start": 5, "clean_end": 13, "text": "<script>",
            "message": HOSTILE, "run_id": "r1"}
    entity = {"doc_id": "d" * 64, "ent_index": 0, "sent_index": 0, "start_char": 0,
              "end_char": 4, "raw_start": 0, "raw_end": 4, "text": "Kyiv", "label": HOSTILE,
              "model_label": None, "canonical": HOSTILE, "source": "ruler", "run_id": "r1"}
    reject = {"doc_id": "e" * 64, "source": f"{HOSTILE}.bin", "reason": HOSTILE,
              "detail": HOSTILE, "raw_text": None, "cleaner_version": "c", "model": "m",
              "run_id": "r1", "rejected_at": datetime.now(UTC)}
    tables = {"documents": pa.Table.from_pylist([doc], schema=TABLES["documents"]),
              "edits": TABLES["edits"].empty_table(),
              "flags": pa.Table.from_pylist([flag], schema=TABLES["flags"]),
              "entities": pa.Table.from_pylist([entity], schema=TABLES["entities"]),
              "rejects": pa.Table.from_pylist([reject], schema=TABLES["rejects"])}
    page = build_report(f"r1{HOSTILE}", HOSTILE, tables)
    assert "<script" not in page and "<img" not in page and "onerror=alert(1)>" not in page
    assert page.count("&lt;script&gt;") >= 10  # title, h1, meta, rejects, chart, article, body
    assert f"<h3>in/{_escaped(HOSTILE)}.txt</h3>" in page
    assert f"<td>{_escaped(HOSTILE)}.bin</td>" in page
    assert page.count("<svg") == 3  # rejects, flags, entities (no edits: "none")
    assert page.count("<article") == 1


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def test_a_hostile_file_name_in_a_real_run_is_escaped(tmp_path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    name = "<img src=x onerror=alert(1)> & \"quoted\" 'news'.txt"
    (src / name).write_text("Officials met in Oslo on Monday. The talks went on for hours.\n")
    summary = preprocess(source=str(src), output=str(tmp_path / "out"), runner="thread")
    page = Path(summary["report"]).read_text(encoding="utf-8")
    assert summary["documents"] == 1
    assert not re.search(r"<script|<img|<iframe|<link", page, re.IGNORECASE)
    assert _escaped(str(src / name)) in page


def test_the_template_ships_as_package_data() -> None:
    """A non-editable install carries only what package-data names."""
    import fnmatch
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = config["package-data"]["tasks.report"]
    assert "tasks.report" in config["packages"]
    assert (REPO / "tasks" / "report" / "report.html.j2").is_file()
    assert any(fnmatch.fnmatch("report.html.j2", g) for g in globs)
