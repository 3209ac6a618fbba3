"""An output's derived state: what a run needs to know of the published tables, kept so that it
reads only the part its own documents touch, never the whole corpus.

    <output>/_index/manifest.json                  the current snapshot
    <output>/_index/<table>/<bucket>-<uid>.parquet  immutable bucket files it names

Each state table is split into ``BUCKETS`` files by a stable hash of its key (a document id, a
name), so a run that touches ten names rewrites the few files that hold them. A snapshot
changes in one atomic write of the manifest: a run that dies before it leaves the previous
snapshot whole (its new files are referenced by nothing and deleted by the next commit).
The manifest also says which runs are folded in: runs published since (a run that died before
its end-of-run step, a run recovered later) are folded in by the next run, so the state never
misses a published row, and none is folded twice. Readers never look here (the folder's name
starts with "_", which Hive, Spark, DuckDB globs and pyarrow's discovery skip); the tables are
the truth, and the state can be rebuilt from them at any time.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from store import atomic
from store.layout import Location, location

STATE = "_index"
MANIFEST = f"{STATE}/manifest.json"
BUCKETS = 64
WRITERS = 4  # bucket files a commit writes at once
FORMAT = 1


def bucket_of(key: str) -> int:
    """The bucket of a key: a document id (hex) by its first digits, any other key by a hash."""
    head = key[:4]
    if len(head) == 4 and all(c in "0123456789abcdef" for c in head):
        return int(head, 16) % BUCKETS
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"),
                                          digest_size=4).digest(), "big") % BUCKETS


def buckets_of(column: pa.ChunkedArray | pa.Array | Iterable[str]) -> list[int]:
    values = column.to_pylist() if hasattr(column, "to_pylist") else column
    return [bucket_of(v) for v in values]


@dataclass
class Snapshot:
    """One consistent version of the state: its files by table and bucket, the runs folded in,
    and the facts recorded with it (e.g. which grouping release made the entity index)."""

    loc: Location
    files: dict[str, dict[int, str]] = field(default_factory=dict)
    folded: list[str] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)

    def paths(self, table: str, buckets: Iterable[int] | None = None) -> list[str]:
        held = self.files.get(table, {})
        wanted = held.keys() if buckets is None else set(buckets) & held.keys()
        return [self.loc.path(held[b]) for b in sorted(wanted)]

    def read(self, table: str, schema: pa.Schema, buckets: Iterable[int] | None = None,
             columns: list[str] | None = None, filter: ds.Expression | None = None,  # noqa: A002
             ) -> pa.Table:
        """The rows of ``table`` in ``buckets`` (every bucket when None), empty with its schema
        when it has none."""
        paths = self.paths(table, buckets)
        if not paths:
            empty = schema.empty_table()
            return empty.select(columns) if columns else empty
        dataset = ds.dataset(paths, format="parquet", filesystem=self.loc.fs, schema=schema)
        return dataset.to_table(columns=columns, filter=filter)

    def read_bucket(self, table: str, schema: pa.Schema, bucket: int,
                    changed: Mapping[str, Mapping[int, pa.Table]] | None = None,
                    columns: list[str] | None = None,
                    filter: ds.Expression | None = None,  # noqa: A002
                    ) -> pa.Table:
        """One bucket: its new table when ``changed`` holds one, else its file's rows; only
        the rows ``filter`` keeps and ``columns`` when given (decoded so from a file)."""
        fresh = (changed or {}).get(table, {}).get(bucket)
        if fresh is None:
            return self.read(table, schema, [bucket], columns=columns, filter=filter)
        fresh = fresh if filter is None else fresh.filter(filter)
        return fresh if columns is None else fresh.select(columns)


@dataclass
class Draft(Snapshot):
    """A snapshot written one bucket at a time (a rebuild): each bucket's new rows go to a new
    file at once, so that nothing but the bucket at hand is held in memory, and a file of its
    own that a later bucket table replaces is deleted at once. It is not current until
    ``commit``: a draft that dies leaves the current snapshot whole, and its files are
    collected by the next commit."""

    own: set[str] = field(default_factory=set)
    # while other processes read the draft as it was (a rebuild's parts decided on Dask), the
    # files it replaces are kept, and deleted by ``collect``
    keep_replaced: bool = False
    replaced: list[str] = field(default_factory=list)

    def put(self, table: str, bucket: int, rows: pa.Table) -> None:
        held = self.files.setdefault(table, {})
        replaced = held.pop(bucket, None)
        if rows.num_rows:
            rel = f"{STATE}/{table}/{bucket:03d}-{uuid.uuid4().hex[:12]}.parquet"
            atomic.write_parquet(self.loc, rel, rows)
            held[bucket] = rel
            self.own.add(rel)
        if replaced in self.own:
            self.own.discard(replaced)
            self.replaced.append(replaced)
            if not self.keep_replaced:
                self.collect()

    def collect(self) -> None:
        """Delete the files of its own it has replaced."""
        while self.replaced:
            self.loc.fs.delete_file(self.loc.path(self.replaced.pop()))


def load(output: str | os.PathLike[str] | Location) -> Snapshot:
    """The current snapshot (empty when the output has none yet)."""
    loc = location(output)
    path = loc.path(MANIFEST)
    if not atomic.exists(loc, path):
        return Snapshot(loc)
    data = json.loads(atomic.read_bytes(loc, path))
    if data.get("format") != FORMAT:
        return Snapshot(loc)  # a state this release cannot read: rebuilt from the tables
    return Snapshot(loc, {t: {int(b): f for b, f in files.items()}
                          for t, files in data["files"].items()},
                    list(data["folded"]), dict(data.get("facts", {})))


def stage(snapshot: Snapshot, changes: Mapping[str, Mapping[int, pa.Table]]) -> Snapshot:
    """Write the changed buckets as new files: the snapshot they make, not yet current (see
    ``commit``). An empty table removes its bucket."""
    loc = snapshot.loc
    files = {t: dict(b) for t, b in snapshot.files.items()}
    writes = []
    for table, buckets in changes.items():
        held = files.setdefault(table, {})
        for bucket, rows in buckets.items():
            if rows.num_rows == 0:
                held.pop(bucket, None)
                continue
            rel = f"{STATE}/{table}/{bucket:03d}-{uuid.uuid4().hex[:12]}.parquet"
            writes.append((rel, rows))
            held[bucket] = rel
    # the files written (each flushed to disk) a few at a time: the waits on the disk overlap
    with ThreadPoolExecutor(WRITERS, thread_name_prefix="stage") as pool:
        for done in [pool.submit(atomic.write_parquet, loc, rel, rows) for rel, rows in writes]:
            done.result()
    return Snapshot(loc, files, list(snapshot.folded), dict(snapshot.facts))


def commit(snapshot: Snapshot, staged: Snapshot, folded: Iterable[str],
           facts: Mapping[str, str] | None = None, replace: bool = False) -> Snapshot:
    """Make ``staged`` the current snapshot with ``folded`` runs added: one atomic write of the
    manifest; then delete the files no snapshot names any more."""
    loc = snapshot.loc
    new = Snapshot(loc, staged.files, [*([] if replace else snapshot.folded), *folded],
                   {**snapshot.facts, **(facts or {})})
    manifest = {"format": FORMAT, "folded": new.folded, "facts": new.facts,
                "files": {t: {str(b): f for b, f in sorted(h.items())}
                          for t, h in sorted(new.files.items())}}
    atomic.write_bytes(loc, MANIFEST, json.dumps(manifest, indent=1).encode())
    _collect(loc, new)
    return new


def _collect(loc: Location, snapshot: Snapshot) -> None:
    """Delete bucket files the snapshot does not name (left by earlier commits or a dead run)."""
    named = {loc.path(f) for held in snapshot.files.values() for f in held.values()}
    selector = pafs.FileSelector(loc.path(STATE), allow_not_found=True, recursive=True)
    for info in loc.fs.get_file_info(selector):
        if (info.type == pafs.FileType.File and info.path.endswith(".parquet")
                and info.path not in named):
            loc.fs.delete_file(info.path)


def split(table: pa.Table, key: str) -> dict[int, pa.Table]:
    """The rows of ``table`` by the bucket of their ``key`` column."""
    if table.num_rows == 0:
        return {}
    buckets = pa.array(buckets_of(table.column(key)), pa.int32())
    out = {}
    for b in sorted(set(buckets.to_pylist())):
        out[b] = table.filter(pc.equal(buckets, b))
    return out
