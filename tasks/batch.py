"""A batch as it moves between tasks: Arrow tables, never Python objects per document."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from schemas.tables import INCOMING_V1, REJECTS_V1, SIGHTINGS_V1
from tasks.ingest import Document, Reject


@dataclass
class Batch:
    """One bounded slice of the corpus: incoming documents plus the tables built so far."""

    run_id: str
    index: int
    incoming: pa.Table
    tables: dict[str, pa.Table] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def copy(self) -> Batch:
        """A copy whose tables can be replaced without touching this one (Arrow data is shared)."""
        return Batch(self.run_id, self.index, self.incoming, dict(self.tables), dict(self.timings))

    @property
    def key(self) -> str:
        return f"{self.index:06d}"

    def add(self, name: str, table: pa.Table) -> None:
        """Append rows to table ``name`` (schemas must match)."""
        if name in self.tables and self.tables[name].num_rows:
            self.tables[name] = pa.concat_tables([self.tables[name], table])
        else:
            self.tables[name] = table


@dataclass(frozen=True, slots=True)
class Sighting:
    """A text seen at a place: ``path`` (the file) and ``row`` (its line/row, or None)."""

    doc_id: str
    source: str
    path: str
    row: int | None
    first_source: str


def sightings_table(sightings: Iterable[Sighting], run_id: str, cleaner_version: str,
                    model: str) -> pa.Table:
    now = datetime.now(UTC)
    rows = [
        {"doc_id": s.doc_id, "source": s.source, "path": s.path, "row": s.row,
         "first_source": s.first_source, "cleaner_version": cleaner_version, "model": model,
         "run_id": run_id, "seen_at": now}
        for s in sightings
    ]
    return pa.Table.from_pylist(rows, schema=SIGHTINGS_V1)


def rejects_table(rejects: Iterable[Reject], run_id: str, cleaner_version: str,
                  model: str) -> pa.Table:
    now = datetime.now(UTC)
    rows = [
        {"doc_id": r.doc_id, "source": r.source, "reason": r.reason, "detail": r.detail,
         "raw_text": r.raw_text, "cleaner_version": cleaner_version, "model": model,
         "run_id": run_id, "rejected_at": now}
        for r in rejects
    ]
    return pa.Table.from_pylist(rows, schema=REJECTS_V1)


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
