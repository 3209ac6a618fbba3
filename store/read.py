"""Reading the tables back: a table by name, a run's partition, what is published, the current
version of every document."""

from __future__ import annotations

import functools
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from schemas.tables import BATCH_TABLES, BREAKDOWNS, STATE_IDS_V1, TABLES
from store.layout import Location, location, run_partition
from store.state import buckets_of
from store.state import load as load_state

Output = str | os.PathLike[str] | Location


def _files(loc: Location, path: str) -> list[str]:
    selector = pafs.FileSelector(path, allow_not_found=True, recursive=True)
    return sorted(i.path for i in loc.fs.get_file_info(selector)
                  if i.type == pafs.FileType.File and i.path.endswith(".parquet"))


def table_dataset(output: Output, name: str) -> ds.Dataset | None:
    """A table as a dataset with its contract's schema, or None when it has no file yet."""
    loc = location(output)
    files = _files(loc, loc.path(name))
    if not files:
        return None
    partitioning = ds.partitioning(pa.schema([("run_id", pa.string())]), flavor="hive")
    return ds.dataset(files, format="parquet", filesystem=loc.fs, schema=TABLES[name],
                      partitioning=partitioning, partition_base_dir=loc.path(name))


def _empty(name: str, columns: list[str] | None) -> pa.Table:
    table = TABLES[name].empty_table()
    return table.select(columns) if columns else table


def read_table(output: Output, name: str, columns: list[str] | None = None,
               filter: pc.Expression | None = None) -> pa.Table:  # noqa: A002
    """A whole table (every run), empty with its schema if nothing is published yet."""
    dataset = table_dataset(output, name)
    if dataset is None:
        return _empty(name, columns)
    return dataset.to_table(columns=columns, filter=filter)


def read_run_table(output: Output, name: str, run_id: str, columns: list[str] | None = None,
                   doc_ids: list[str] | None = None) -> pa.Table:
    """One run's partition of a batch table (empty if the run wrote none), optionally only
    some columns and the rows of some documents: a report must not hold a whole run."""
    loc = location(output)
    files = _files(loc, loc.path(run_partition(name, run_id)))
    if not files:
        return _empty(name, columns)
    dataset = ds.dataset(files, format="parquet", filesystem=loc.fs, schema=TABLES[name])
    # typed: an empty list would be a null array, which a string column cannot be tested against
    flt = (ds.field("doc_id").isin(pa.array(doc_ids, pa.string())) if doc_ids is not None
           else None)
    return dataset.to_table(columns=columns, filter=flt)


def count_run_rows(output: Output, name: str, run_id: str) -> int:
    """Rows of one run's partition of a table, from the files' footers."""
    loc = location(output)
    files = _files(loc, loc.path(run_partition(name, run_id)))
    if not files:
        return 0
    return ds.dataset(files, format="parquet", filesystem=loc.fs).count_rows()


@dataclass(frozen=True)
class Published:
    """What earlier runs with these versions recorded, so that a rerun records nothing twice.

    ``inputs`` and ``paths`` name each source by its place: the source as recorded, or, with
    ``PublishedLookup(resolve=...)``, as this version names it (its file's resolved path), so
    that a source an earlier version recorded as typed is recognised."""

    documents: dict[str, str]  # doc_id -> the source it was published from (as recorded)
    inputs: set[tuple[str, str]]  # (doc_id, place) of every published document, reject, move
    paths: dict[str, str] = field(default_factory=dict)  # place -> its file (from sightings)
    published_from: dict[str, str] = field(default_factory=dict)  # doc_id -> that source's place

    def place_of(self, doc_id: str) -> str | None:
        """The place of the source ``doc_id`` was published from (None: not published)."""
        return self.published_from.get(doc_id, self.documents.get(doc_id))


# How a recorded source is named now: (source, its file when known, the folder a relative
# source is relative to when known) -> its place (tasks.ingest.resolved_source).
Resolve = Callable[[str, str | None, str | None], str]


def published_ids(output: Output, cleaner: str, model: str,
                  doc_ids: Iterable[str] | None = None) -> Published:
    """Everything already in documents, rejects or sightings for these versions, of the
    documents ``doc_ids`` (all of them when None: a small output, a test)."""
    return PublishedLookup(output, cleaner, model)(doc_ids)


class PublishedLookup:
    """What is recorded of a batch's documents, read for that batch only: from the output's
    state (``_index/ids``, bucketed by doc_id: the buckets of the batch's ids are read) and,
    for runs published since the state was last folded (a run that died before its end), from
    their own partitions. Memory follows the batch, not the corpus.

    ``resolve`` names each recorded source by its place, a relative one against the folder its
    run was started in (``run_folders``)."""

    def __init__(self, output: Output, cleaner: str, model: str,
                 resolve: Resolve | None = None) -> None:
        self.loc = location(output)
        self.cleaner, self.model = cleaner, model
        self.resolve = resolve
        self.snapshot = load_state(self.loc)
        folded = set(self.snapshot.folded)
        self.pending: dict[str, list[str]] = {}  # table -> files of runs not yet folded
        for name in ID_TABLES:
            self.pending[name] = [f for run_id in run_ids(self.loc, name) if run_id not in folded
                                  for f in _files(self.loc, self.loc.path(
                                      run_partition(name, run_id)))]

    def __call__(self, doc_ids: Iterable[str] | None = None) -> Published:
        ids = None if doc_ids is None else pa.array(sorted(set(doc_ids)), pa.string())
        versions = (ds.field("cleaner_version") == self.cleaner) & (ds.field("model") == self.model)
        flt = versions if ids is None else versions & ds.field("doc_id").isin(ids)
        buckets = None if ids is None else sorted(set(buckets_of(ids)))
        rows = [self.snapshot.read("ids", STATE_IDS_V1, buckets, filter=flt)]
        for name, files in self.pending.items():
            if files:
                table = ds.dataset(files, format="parquet", filesystem=self.loc.fs,
                                   schema=TABLES[name]).to_table(columns=ids_columns(name),
                                                                 filter=flt)
                rows.append(ids_rows(table, name))
        return _published(pa.concat_tables(rows), self._place)

    @functools.cached_property
    def folders(self) -> dict[str, str]:
        return run_folders(self.loc)  # read once, when a relative source is first met

    def _place(self, source: str, file: str | None, run_id: str) -> str:
        """``source`` (recorded by ``run_id``) as ``resolve`` names it."""
        if self.resolve is None:
            return source
        folder = None if os.path.isabs(source) else self.folders.get(run_id)
        return self.resolve(source, file, folder)


ID_TABLES = ("documents", "rejects", "sightings")  # the tables that record an input


def ids_columns(name: str) -> list[str]:
    """The columns of ``name`` (one of ``ID_TABLES``) that ``ids_rows`` takes."""
    extra = ["path", "first_source"] if name == "sightings" else []
    return ["doc_id", "source", *extra, "cleaner_version", "model", "run_id"]


def ids_rows(table: pa.Table, name: str) -> pa.Table:
    """Rows of ``name`` (its ``ids_columns``) as ``STATE_IDS_V1`` rows: what a rerun skips."""
    n = table.num_rows
    for column in ("path", "first_source"):
        if column not in table.column_names:
            table = table.append_column(column, pa.nulls(n, pa.string()))
    table = table.append_column("kind", pa.array([name] * n, pa.string()))
    return table.select(STATE_IDS_V1.names).cast(STATE_IDS_V1)


def run_ids(output: Output, name: str) -> list[str]:
    """The runs with a partition of table ``name``, oldest first."""
    loc = location(output)
    selector = pafs.FileSelector(loc.path(name), allow_not_found=True, recursive=False)
    return sorted(i.base_name.removeprefix("run_id=") for i in loc.fs.get_file_info(selector)
                  if i.type == pafs.FileType.Directory and i.base_name.startswith("run_id="))


def run_folders(output: Output) -> dict[str, str]:
    """The folder each run was started in, where its runs row tells: the absolute ``source``
    it records (the source given, joined to the folder) less the relative source given (in
    ``parameters``). What a relative source that run recorded is relative to."""
    columns = ["run_id", "source", "parameters"]
    runs = read_table(output, "runs", columns)
    folders = {}
    for run_id, where, parameters in zip(*(runs.column(c).to_pylist() for c in columns)):
        try:
            given = json.loads(parameters).get("source")
        except (ValueError, AttributeError):
            continue
        if not isinstance(given, str) or os.path.isabs(given) or not os.path.isabs(where):
            continue
        tail, parts = Path(given).parts, Path(where).parts
        if tail and parts[-len(tail):] == tail:
            folders[run_id] = str(Path(*parts[:-len(tail)]))
    return folders


def _published(rows: pa.Table, place: Callable[[str, str | None, str], str]) -> Published:
    """``rows`` (``STATE_IDS_V1``) as what a rerun skips, each source named by
    ``place(source, its file when known, run_id)``."""
    documents: dict[str, str] = {}
    published_from: dict[str, str] = {}
    inputs: set[tuple[str, str]] = set()
    paths: dict[str, str] = {}
    rows = rows.sort_by([("run_id", "ascending")])
    columns = [rows.column(c).to_pylist()
               for c in ("doc_id", "kind", "source", "path", "first_source", "run_id")]
    files = {s: p for s, p in zip(columns[2], columns[3]) if p is not None}  # from sightings
    named: dict[tuple[str, str], str] = {}

    def where(source: str, run_id: str, file: str | None) -> str:
        if (source, run_id) not in named:  # each source once: a file of many rows too
            named[source, run_id] = place(source, file, run_id)
        return named[source, run_id]

    for doc_id, kind, source, path, first, run_id in zip(*columns):
        here = where(source, run_id, files.get(source))
        if kind == "sightings":
            paths[here] = where(path, run_id, path)
            if source != first:  # a second copy or a moved row: seen, recorded, not again
                inputs.add((doc_id, here))
            continue
        inputs.add((doc_id, here))
        if kind == "documents" and doc_id not in documents:
            documents[doc_id] = source
            published_from[doc_id] = here
    return Published(documents, inputs, paths, published_from)


def value_counts(table: pa.Table | None, column: str) -> dict[str, int]:
    """How often each value of ``column`` occurs, most frequent first: every count by reason,
    rule or label is made here."""
    if table is None or not table.num_rows:
        return {}
    pairs = table.column(column).value_counts().to_pylist()
    return dict(Counter({p["values"]: p["counts"] for p in pairs}).most_common())


def published_counts(output: Output, run_id: str) -> dict:
    """Rows published under ``run_id`` per table, and the rejects/edits/flags/entities by
    reason, rule and label: a run's counts as the tables have them."""
    counts: dict = {}
    flt = ds.field("run_id") == run_id
    for name in ("documents", "rejects", "edits", "flags", "sentences", "entities"):
        dataset = table_dataset(output, name)
        column = BREAKDOWNS.get(name)
        if column is None:
            counts[name] = 0 if dataset is None else dataset.count_rows(filter=flt)
            continue
        values = None if dataset is None else dataset.to_table(columns=[column], filter=flt)
        counts[name] = 0 if values is None else values.num_rows
        counts[f"{name}_by_{column}"] = value_counts(values, column)
    return counts


# --- the current view: one row per document, its latest version, with that version's rows

CHILD_TABLES = tuple(t for t in BATCH_TABLES if t not in ("documents", "rejects"))


def current_versions(output: Output) -> pa.Table:
    """(doc_id, run_id) of every published document's latest version."""
    return latest_versions(read_table(output, "documents", ["doc_id", "run_id", "processed_at"]))


def latest_versions(docs: pa.Table) -> pa.Table:
    """(doc_id, run_id) of every document's latest version among ``docs`` (doc_id, run_id,
    processed_at): the latest ``processed_at``, the latest run among equals (run ids sort by
    their start time)."""
    latest = docs.group_by("doc_id").aggregate([("processed_at", "max")])
    latest = latest.rename_columns(["doc_id", "processed_at"])
    tied = docs.join(latest, keys=["doc_id", "processed_at"], join_type="inner")
    keys = tied.group_by("doc_id").aggregate([("run_id", "max")])
    return keys.rename_columns(["doc_id", "run_id"])


def current(output: Output, name: str = "documents",
            columns: list[str] | None = None) -> pa.Table:
    """A table's rows of each document's current version: ``documents`` has one row per
    document; edits, flags, sentences and entities the rows of that same version."""
    if name not in ("documents", *CHILD_TABLES):
        raise ValueError(f"no current view of {name!r}; choose documents, "
                         f"{', '.join(CHILD_TABLES)}")
    keys = current_versions(output)
    table = read_table(output, name, columns)
    wanted = [c for c in ("doc_id", "run_id") if c not in table.column_names]
    if wanted:
        table = read_table(output, name, [*columns, *wanted])  # type: ignore[list-item]
    joined = table.join(keys, keys=["doc_id", "run_id"], join_type="inner")
    names = columns or list(TABLES[name].names)
    return joined.select(names).cast(TABLES[name].empty_table().select(names).schema)


VIEWS_SQL = Path(__file__).with_name("views.sql")


def views_sql(output: str | os.PathLike[str]) -> str:
    """The shipped DuckDB views (store/views.sql) over the tables at ``output``."""
    return VIEWS_SQL.read_text().replace("'output/", f"'{str(output).rstrip('/')}/")
