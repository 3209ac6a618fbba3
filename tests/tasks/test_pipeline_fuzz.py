"""Fuzz the whole per-document path: ingest -> clean -> annotate -> rows, with Hypothesis."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.annotate import DEFAULT_MODEL, annotate_documents, model_version
from tasks.batch import Batch, incoming_table
from tasks.clean import AppliedEdit, CleanConfig, cleaner_version, replay
from tasks.clean.batch import clean_documents
from tasks.ingest import Document, read_source

CONFIG = CleanConfig()
CLEANER = cleaner_version(CONFIG)
MODEL = model_version(DEFAULT_MODEL)

pieces = st.one_of(
    st.text(min_size=1, max_size=40),  # any code point, surrogates included
    st.sampled_from([
        "including including", "The the", " .", " ,", "said.The", "\u00a0", "\t", "\r\n",
        "Zelenskyy\u00e2\u20ac\u2122s", "caf\u00c3\u00a9", "&amp;", "\u200b", "e\u0301",
        "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd", "\u0645\u0631\u062d\u0628\u0627",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\udc80\udcff", "interna-\ntional",
        "\n\nRead more: other story\n\n", "Kyiv", "Xi Jinping", "Ursula von der Leyen", " ",
        "in Asia. central last", "\n\n", "U.S.", "3.5",
    ]),
)
texts = st.lists(pieces, min_size=1, max_size=25).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=1, max_size=4))
def test_any_text_gives_valid_rows_or_a_reject(batch_texts: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.jsonl"
        with open(path, "w", encoding="utf-8") as fh:
            for t in batch_texts:
                fh.write(json.dumps({"text": t}) + "\n")  # lone surrogates become \ud... escapes
        items = list(read_source(str(path)))
    assert len(items) == len(batch_texts)  # every line: a document or a reject
    docs = [d for d in items if isinstance(d, Document)]
    assert len({d.doc_id for d in docs}) <= len(docs)
    unique = list({d.doc_id: d for d in docs}.values())
    batch = Batch("rfuzz", 0, incoming_table(unique), cleaner_version=CLEANER, model=MODEL)
    batch = annotate_documents(clean_documents(batch, CONFIG), DEFAULT_MODEL)
    documents = batch.tables["documents"].to_pylist()
    rejects = batch.tables.get("rejects")
    assert len(documents) + (rejects.num_rows if rejects is not None else 0) == len(unique)
    edits = batch.tables["edits"].to_pylist()
    for d in documents:
        raw, clean = d["raw_text"], d["clean_text"]
        mine = sorted((e for e in edits if e["doc_id"] == d["doc_id"]),
                      key=lambda e: e["edit_index"])
        applied = [AppliedEdit(e["rule"], e["raw_start"], e["raw_end"], e["clean_start"],
                               e["clean_end"], e["before"], e["after"]) for e in mine]
        assert replay(raw, applied) == clean
        for e in mine:
            assert raw[e["raw_start"]:e["raw_end"]] == e["before"]
            assert clean[e["clean_start"]:e["clean_end"]] == e["after"]
        for s in (x for x in batch.tables["sentences"].to_pylist() if x["doc_id"] == d["doc_id"]):
            assert 0 <= s["start_char"] < s["end_char"] <= len(clean)
            assert clean[s["start_char"]:s["end_char"]] == s["text"]
        for ent in (x for x in batch.tables["entities"].to_pylist() if x["doc_id"] == d["doc_id"]):
            assert clean[ent["start_char"]:ent["end_char"]] == ent["text"]
            assert 0 <= ent["raw_start"] <= ent["raw_end"] <= len(raw)
        for f in (x for x in batch.tables["flags"].to_pylist() if x["doc_id"] == d["doc_id"]):
            assert raw[f["raw_start"]:f["raw_end"]] == f["text"]
            assert 0 <= f["clean_start"] <= f["clean_end"] <= len(clean)
