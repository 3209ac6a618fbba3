"""A batch as it moves between tasks: Arrow tables, never Python objects per document. The
``Batch`` itself is in ``schemas.batch`` (the store stages it too) and importable from here."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from schemas.batch import Batch
from schemas.tables import INCOMING_V1, REJECTS_V1, SIGHTINGS_V1
from tasks.ingest import Document, Reject

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sighting:
    """A text seen at a place: ``path`` (the file) and ``row`` (its line/row, or None)."""

    doc_id: str
    source: str
    path: str
    row: int | None
    first_source: str


def _stamped(rows: list[dict], schema: pa.Schema, run_id: str, cleaner_version: str,
             model: str, at: str) -> pa.Table:
    """Rows the flow writes itself, stamped with the run, the versions and the time."""
    stamp = {"cleaner_version": cleaner_version, "model": model, "run_id": run_id,
             at: datetime.now(UTC)}
    return pa.Table.from_pylist([{**row, **stamp} for row in rows], schema=schema)


def sightings_table(sightings: Iterable[Sighting], run_id: str, cleaner_version: str,
                    model: str) -> pa.Table:
    return _stamped([asdict(s) for s in sightings], SIGHTINGS_V1, run_id, cleaner_version,
                    model, "seen_at")


def rejects_table(rejects: Iterable[Reject], run_id: str, cleaner_version: str,
                  model: str) -> pa.Table:
    return _stamped([asdict(r) for r in rejects], REJECTS_V1, run_id, cleaner_version, model,
                    "rejected_at")


def incoming_table(docs: Iterable[Document]) -> pa.Table:
    rows = [
        {"doc_id": d.doc_id, "source": d.source, "external_id": d.external_id,
         "raw_text": d.raw_text, "encoding": d.encoding,
         "encoding_detected": d.encoding_detected, "metadata": d.metadata}
        for d in docs
    ]
    return pa.Table.from_pylist(rows, schema=INCOMING_V1)


@dataclass
class Slice:
    """What the flow reads into one batch."""

    docs: list[Document] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    sightings: list[Sighting] = field(default_factory=list)
    chars: int = 0

    def full(self, max_docs: int, max_chars: int) -> bool:
        return (len(self.docs) >= max_docs or self.chars >= max_chars
                or len(self.rejects) + len(self.sightings) >= max_docs * 4)


Item = Document | Reject
Seen = Item | Sighting | tuple[Item, Sighting]


def chunk(items: Iterable[Seen], max_docs: int, max_chars: int) -> Iterator[Slice]:
    """Group a stream into batches bounded by document count and text size. A document or
    reject and its sighting, given as a pair, land in one batch (published together)."""
    part = Slice()
    for entry in items:
        if part.full(max_docs, max_chars):
            yield part
            part = Slice()
        item, sighting = entry if isinstance(entry, tuple) else (entry, None)
        if isinstance(item, Sighting):
            item, sighting = None, item
        if isinstance(item, Document):
            part.docs.append(item)
            part.chars += len(item.raw_text)
        elif item is not None:
            part.rejects.append(item)
        if sighting is not None:
            part.sightings.append(sighting)
    if part.docs or part.rejects or part.sightings:
        yield part


# --- Steps: a Batch in, a Batch out; a document that fails becomes a reject, here and only here.


class BatchFailed(RuntimeError):
    """A failure no one document caused (a model that is not installed, a table that does not
    fit its schema): it fails the batch, and the run says why."""


# What a step never turns into a reject: the next document would fail the same way.
FATAL: tuple[type[BaseException], ...] = (BatchFailed, MemoryError)


@dataclass(frozen=True)
class Step:
    """A step's name (its key in ``Batch.timings``) and how a reject's detail says it failed."""

    name: str
    failure: str  # "annotation failed" -> detail "annotation failed: KeyError: 'x'"


class Failures:
    """The documents a step could not handle, by row of ``batch.incoming``."""

    def __init__(self, step: Step, sources: Sequence[str]) -> None:
        self.step = step
        self.sources = sources
        self.detail: dict[int, str] = {}
        self.reason: dict[int, str] = {}  # rows rejected for a reason other than processing_error

    def __contains__(self, row: int) -> bool:
        return row in self.detail

    @contextmanager
    def document(self, row: int) -> Iterator[None]:
        """Work on one document: a failure is recorded for its row and the batch goes on."""
        try:
            yield
        except FATAL:
            raise
        except Exception as exc:
            # an exception that names its own reject ("too_slow") is no bug: no traceback
            reason = getattr(exc, "reject_reason", None)
            if reason is not None:
                log.warning("%s rejected %s as %s: %s", self.step.name, self.sources[row], reason,
                            exc)
                self.reason.setdefault(row, reason)
                self.detail.setdefault(row, f"{self.sources[row]}: {exc}")
                return
            # a bug on one document must not cost the batch
            log.exception("%s failed for %s", self.step.name, self.sources[row])
            self.detail.setdefault(row, f"{self.step.failure}: {type(exc).__name__}: {exc}")

    def run(self, row: int, fn: Callable[..., T], *args: object) -> T | None:
        """``fn(*args)`` for the document of ``row``; None if it failed."""
        with self.document(row):
            return fn(*args)
        return None

    def keep(self, values: Sequence[T]) -> list[T]:
        """The values of the rows that did not fail, in order."""
        return [v for i, v in enumerate(values) if i not in self.detail]


def reject_failed(batch: Batch, failures: Failures) -> Batch:
    """The failed documents leave the batch: their rows leave ``incoming`` and every table
    keyed by ``doc_id`` (rejects and sightings excepted: the text was seen there all the same),
    and a reject takes their place (``processing_error``, or the reason the exception named)."""
    if not failures.detail:
        return batch
    inc = batch.incoming
    ids, sources = inc.column("doc_id").to_pylist(), inc.column("source").to_pylist()
    raws = inc.column("raw_text").to_pylist()
    failed = sorted(failures.detail)
    bad = pa.array(sorted({ids[i] for i in failed}), pa.string())
    # (typed: an empty list of rows, when every document failed, would be an array of nulls)
    batch.incoming = inc.take(pa.array([i for i in range(inc.num_rows) if i not in failures],
                                       pa.int64()))
    for name, table in batch.tables.items():
        if (name not in ("rejects", "sightings") and table.num_rows
                and "doc_id" in table.column_names):
            batch.tables[name] = table.filter(pc.invert(pc.is_in(table.column("doc_id"),
                                                                 value_set=bad)))
    batch.add("rejects", rejects_table(
        [Reject(ids[i], sources[i], failures.reason.get(i, "processing_error"),
                failures.detail[i], raws[i])
         for i in failed], batch.run_id, batch.cleaner_version, batch.model))
    return batch


def run_step(step: Step, batch: Batch, each: Callable[[Batch, Failures], Sequence[T]],
             assemble: Callable[[Batch, list[T]], Batch]) -> Batch:
    """One step over a batch: ``each`` works on every document (one result per row of
    ``incoming``; a document that fails is recorded in ``Failures``), the failed documents
    become rejects, then ``assemble`` builds the step's tables from the results of the others.
    The batch given is not changed."""
    started = time.perf_counter()
    batch = batch.copy()
    failures = Failures(step, batch.incoming.column("source").to_pylist())
    results = each(batch, failures)
    batch = reject_failed(batch, failures)
    batch = assemble(batch, failures.keep(results))
    batch.timings[step.name] = time.perf_counter() - started
    return batch


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``; a table that does not fit it fails the batch."""
    name = (schema.metadata or {}).get(b"table", b"?").decode()
    if table.schema.names != schema.names:
        missing = [n for n in schema.names if n not in table.schema.names]
        extra = [n for n in table.schema.names if n not in schema.names]
        raise BatchFailed(f"the {name} table does not fit its schema: columns missing "
                          f"{missing or 'none'}, unexpected {extra or 'none'}, order "
                          f"{table.schema.names}")
    try:
        return table.cast(schema)  # also refuses nulls where the schema allows none
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise BatchFailed(f"the {name} table does not fit its schema: {exc}") from exc
