"""The run report and the entity index, from a real flow run on the sample articles."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from flows.preprocess import preprocess
from schemas.tables import ENTITY_INDEX_V1
from tasks.report import render_document

pytestmark = pytest.mark.usefixtures("prefect_harness")

REPO = Path(__file__).resolve().parents[2]


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
    assert index.schema.equals(ENTITY_INDEX_V1, check_metadata=True)
    entities = ds.dataset(out / "entities", format="parquet", partitioning="hive").to_table()
    mentions = Counter(zip(entities.column("canonical").to_pylist(),
                           entities.column("label").to_pylist()))
    rows = {(r["canonical"], r["label"]): r for r in index.to_pylist()}
    assert {k: r["n_mentions"] for k, r in rows.items()} == dict(mentions)
    assert sum(r["n_mentions"] for r in rows.values()) == summary["entities"]
    assert rows[("Kyiv", "GPE")]["n_documents"] == 1  # "KYIV" dateline, via the pattern's id
    assert rows[("Oksana Hrytsenko", "PERSON")]["n_mentions"] == 2  # "Hrytsenko" joins her
    assert all(r["first_seen"] <= r["last_seen"] for r in rows.values())
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
