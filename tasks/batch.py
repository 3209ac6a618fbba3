"""A batch as it moves between tasks: Arrow tables, never Python objects per document."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from schemas.tables import INCOMING_V1, REJECTS_V1
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


def chunk(items: Iterable[Document | Reject], max_docs: int, max_chars: int
          ) -> Iterator[tuple[list[Document], list[Reject]]]:
    """Group a stream into batches bounded by document count and text size."""
    docs: list[Document] = []
    rejects: list[Reject] = []
    chars = 0
    for item in items:
        if isinstance(item, Document):
            docs.append(item)
            chars += len(item.raw_text)
        else:
            rejects.append(item)
        if len(docs) >= max_docs or chars >= max_chars or len(rejects) >= max_docs * 4:
            yield docs, rejects
            docs, rejects, chars = [], [], 0
    if docs or rejects:
        yield docs, rejects
