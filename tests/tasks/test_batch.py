"""Steps of one shape: a failing document becomes a reject in one place; a fatal error fails
the batch; tables between steps fit their schemas."""

from __future__ import annotations

import pyarrow as pa
import pytest

from schemas.tables import CLEANED_V1, EDITS_V2, INCOMING_V1, REJECTS_V1
from tasks.batch import (
    Batch,
    BatchFailed,
    Failures,
    Step,
    conform,
    incoming_table,
    rejects_table,
    run_step,
)
from tasks.ingest import Document, Reject, sha256_hex

STEP = Step("measure", failure="measuring failed")
TEXTS = ["A short one.", "This one breaks.", "The last one is fine."]


def _batch() -> Batch:
    docs = [Document(sha256_hex(t), f"d{i}.txt", t, "utf-8", False) for i, t in enumerate(TEXTS)]
    batch = Batch("r1", 0, incoming_table(docs), cleaner_version="cleaner-1", model="model-1")
    batch.add("rejects", rejects_table([Reject("x" * 64, "bad.bin", "binary", "not text")],
                                       "r1", "c", "m"))
    return batch


def _length(text: str) -> int:
    if "breaks" in text:
        raise KeyError("no length for this one")
    return len(text)


def _each(batch: Batch, failures: Failures) -> list[int | None]:
    return [failures.run(i, _length, t)
            for i, t in enumerate(batch.incoming.column("raw_text").to_pylist())]


def _assemble(batch: Batch, lengths: list[int]) -> Batch:
    ids = batch.incoming.column("doc_id").to_pylist()
    batch.add("edits", pa.Table.from_pylist(
        [{"doc_id": d, "edit_index": 0, "rule": "measure", "raw_start": 0, "raw_end": n,
          "clean_start": 0, "clean_end": n, "before": "", "after": "", "run_id": "r1",
          "reason": ""} for d, n in zip(ids, lengths)], schema=EDITS_V2))
    return batch


def test_a_failing_document_becomes_a_reject_with_the_steps_words() -> None:
    given = _batch()
    out = run_step(STEP, given, _each, _assemble)
    assert out.incoming.column("source").to_pylist() == ["d0.txt", "d2.txt"]
    assert out.tables["edits"].column("raw_end").to_pylist() == [len(TEXTS[0]), len(TEXTS[2])]
    rejects = out.tables["rejects"]
    assert rejects.schema.equals(REJECTS_V1, check_metadata=True)
    assert [(r["source"], r["reason"], r["detail"], r["raw_text"], r["cleaner_version"],
             r["model"]) for r in rejects.to_pylist()] == [
        ("bad.bin", "binary", "not text", None, "c", "m"),  # the batch's own, kept
        ("d1.txt", "processing_error", "measuring failed: KeyError: 'no length for this one'",
         TEXTS[1], "cleaner-1", "model-1")]
    assert "measure" in out.timings
    # the batch given is not changed: a retry starts from it afresh
    assert given.incoming.num_rows == 3 and given.tables["rejects"].num_rows == 1
    assert "edits" not in given.tables and not given.timings


def test_a_failed_documents_rows_leave_every_table_keyed_by_doc_id() -> None:
    """An earlier step's rows of a document a later step rejects are dropped with it."""
    measured = run_step(STEP, _batch(),
                        lambda b, f: [len(t) for t in b.incoming.column("raw_text").to_pylist()],
                        _assemble)
    assert measured.tables["edits"].num_rows == 3
    out = run_step(Step("again", "again failed"), measured, _each,
                   lambda b, _: b)
    assert out.tables["edits"].column("doc_id").to_pylist() == [
        sha256_hex(TEXTS[0]), sha256_hex(TEXTS[2])]
    assert out.tables["rejects"].column("detail").to_pylist()[-1].startswith("again failed: ")


def test_a_fatal_error_fails_the_batch() -> None:
    def broken(text: str) -> int:
        raise BatchFailed("the model is not installed")

    def each(batch: Batch, failures: Failures) -> list[int | None]:
        return [failures.run(0, broken, "x")]

    with pytest.raises(BatchFailed, match="not installed"):
        run_step(STEP, _batch(), each, _assemble)


def test_conform_names_what_does_not_fit() -> None:
    incoming = _batch().incoming
    assert conform(incoming, INCOMING_V1).schema.equals(INCOMING_V1, check_metadata=True)
    with pytest.raises(BatchFailed, match=r"cleaned table does not fit its schema: columns "
                                          r"missing \['clean_text', 'n_edits', 'n_flags'\]"):
        conform(incoming, CLEANED_V1)
    cleaned = (incoming.append_column("clean_text", pa.array(["a", None, "c"]))
               .append_column("n_edits", pa.array([0, 0, 0], pa.int32()))
               .append_column("n_flags", pa.array([0, 0, 0], pa.int32())))
    with pytest.raises(BatchFailed, match="cleaned table does not fit its schema: .*clean_text.* null"):
        conform(cleaned, CLEANED_V1)
