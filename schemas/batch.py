"""The batch: what moves between the steps and into the store, as Arrow tables, never Python
objects per document. Here, below the store and the tasks, so both use it and neither imports
the other for it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa


@dataclass
class Batch:
    """One bounded slice of the corpus: incoming documents plus the tables built so far, and
    what every row it writes records about how it was made (run, cleaner and model versions)."""

    run_id: str
    index: int
    incoming: pa.Table
    tables: dict[str, pa.Table] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    cleaner_version: str = ""
    model: str = ""  # name==version (+patterns hash) as recorded, not the name to load

    def copy(self) -> Batch:
        """A copy whose tables can be replaced without touching this one (Arrow data is shared)."""
        return Batch(self.run_id, self.index, self.incoming, dict(self.tables), dict(self.timings),
                     self.cleaner_version, self.model)

    @property
    def key(self) -> str:
        return f"{self.index:06d}"

    def add(self, name: str, table: pa.Table) -> None:
        """Append rows to table ``name`` (schemas must match)."""
        if name in self.tables and self.tables[name].num_rows:
            self.tables[name] = pa.concat_tables([self.tables[name], table])
        else:
            self.tables[name] = table
