"""The cleaner over a batch: the ``cleaned`` table (clean_text, n_edits, n_flags) plus ``edits``
and ``flags`` rows."""

from __future__ import annotations

import pyarrow as pa

from schemas.tables import CLEANED_V1, EDITS_V2, FLAGS_V1
from tasks.batch import Batch, Failures, Step, conform, run_step
from tasks.clean import CleanConfig, CleanResult, clean_text, gather

CLEAN = Step("clean", failure="the cleaner failed on this document")


def clean_documents(batch: Batch, config: CleanConfig, budget: float | None = None) -> Batch:
    """Clean every document of the batch; ``incoming`` becomes the ``cleaned`` table. A document
    whose cleaning takes longer than ``budget`` seconds becomes a ``too_slow`` reject."""

    def each(batch: Batch, failures: Failures) -> list[CleanResult | None]:
        texts = batch.incoming.column("raw_text").to_pylist()
        evidence = gather(texts)  # what the batch says: recurring lines, names used doubled
        return [failures.run(i, clean_text, text, config, evidence, budget)
                for i, text in enumerate(texts)]

    def assemble(batch: Batch, results: list[CleanResult]) -> Batch:
        ids = batch.incoming.column("doc_id").to_pylist()
        batch.incoming = cleaned_table(batch.incoming, results)
        batch.add("edits", edit_rows(ids, results, batch.run_id))
        batch.add("flags", flag_rows(ids, results, batch.run_id))
        return batch

    return run_step(CLEAN, batch, each, assemble)


def cleaned_table(incoming: pa.Table, results: list[CleanResult]) -> pa.Table:
    """The incoming documents with their clean text and how many edits and flags made it."""
    return conform(
        incoming.append_column("clean_text", pa.array([r.clean_text for r in results], pa.string()))
        .append_column("n_edits", pa.array([len(r.edits) for r in results], pa.int32()))
        .append_column("n_flags", pa.array([len(r.flags) for r in results], pa.int32())),
        CLEANED_V1)


def edit_rows(ids: list[str], results: list[CleanResult], run_id: str) -> pa.Table:
    return pa.Table.from_pylist(
        [{"doc_id": doc_id, "edit_index": k, "rule": e.rule, "raw_start": e.raw_start,
          "raw_end": e.raw_end, "clean_start": e.clean_start, "clean_end": e.clean_end,
          "before": e.before, "after": e.after, "run_id": run_id, "reason": e.reason}
         for doc_id, result in zip(ids, results) for k, e in enumerate(result.edits)],
        schema=EDITS_V2)


def flag_rows(ids: list[str], results: list[CleanResult], run_id: str) -> pa.Table:
    return pa.Table.from_pylist(
        [{"doc_id": doc_id, "flag_index": k, "rule": f.rule, "raw_start": f.raw_start,
          "raw_end": f.raw_end, "clean_start": f.clean_start, "clean_end": f.clean_end,
          "text": f.text, "message": f.message, "run_id": run_id}
         for doc_id, result in zip(ids, results) for k, f in enumerate(result.flags)],
        schema=FLAGS_V1)
