"""The cleaner over a batch: clean_text column plus ``edits`` and ``flags`` rows."""

from __future__ import annotations

import logging
import time

import pyarrow as pa

from schemas.tables import EDITS_V2, FLAGS_V1
from tasks.batch import Batch, rejects_table
from tasks.clean import CleanConfig, clean_text, gather
from tasks.ingest import Reject

log = logging.getLogger(__name__)


def clean_documents(batch: Batch, config: CleanConfig, cleaner: str, model: str) -> Batch:
    """Clean every document of the batch (pure apart from the batch it returns)."""
    started = time.perf_counter()
    texts = batch.incoming.column("raw_text").to_pylist()
    ids = batch.incoming.column("doc_id").to_pylist()
    evidence = gather(texts)
    clean, n_edits, n_flags, keep = [], [], [], []
    edits: list[dict] = []
    flags: list[dict] = []
    failed: list[Reject] = []
    sources = batch.incoming.column("source").to_pylist()
    for i, (doc_id, text) in enumerate(zip(ids, texts)):
        try:
            result = clean_text(text, config, evidence)
        except Exception as exc:  # a bug on one document must not cost the batch
            log.exception("cleaning failed for %s", sources[i])
            failed.append(Reject(doc_id, sources[i], "processing_error",
                                 f"the cleaner failed on this document: {type(exc).__name__}: {exc}",
                                 text))
            continue
        keep.append(i)
        clean.append(result.clean_text)
        n_edits.append(len(result.edits))
        n_flags.append(len(result.flags))
        for k, e in enumerate(result.edits):
            edits.append({"doc_id": doc_id, "edit_index": k, "rule": e.rule,
                          "raw_start": e.raw_start, "raw_end": e.raw_end,
                          "clean_start": e.clean_start, "clean_end": e.clean_end,
                          "before": e.before, "after": e.after, "run_id": batch.run_id,
                          "reason": e.reason})
        for k, f in enumerate(result.flags):
            flags.append({"doc_id": doc_id, "flag_index": k, "rule": f.rule,
                          "raw_start": f.raw_start, "raw_end": f.raw_end,
                          "clean_start": f.clean_start, "clean_end": f.clean_end,
                          "text": f.text, "message": f.message, "run_id": batch.run_id})
    incoming = batch.incoming.take(keep) if failed else batch.incoming
    batch.incoming = (incoming.append_column("clean_text", pa.array(clean, pa.string()))
                      .append_column("n_edits", pa.array(n_edits, pa.int32()))
                      .append_column("n_flags", pa.array(n_flags, pa.int32())))
    batch.add("edits", pa.Table.from_pylist(edits, schema=EDITS_V2))
    batch.add("flags", pa.Table.from_pylist(flags, schema=FLAGS_V1))
    if failed:
        batch.add("rejects", rejects_table(failed, batch.run_id, cleaner, model))
    batch.timings["clean"] = time.perf_counter() - started
    return batch
