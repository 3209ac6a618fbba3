"""The commit protocol: a batch is visible whole or not at all, every input exactly once.

1. a batch's tables are written under ``<output>/_staging/<run_id>/<batch>/`` (immutable files,
   unique to the batch);
2. a ``_READY`` record is written there last: from now on the batch is committed;
3. the files are moved into ``<output>/<table>/run_id=<run_id>/part-<batch>.parquet`` (child
   tables first, ``documents`` and ``rejects`` last) and the staging folder removed.

On a local disk a move is a rename; on an object store, with no rename, it is a server-side
copy (the object appears whole) and a delete, safe to repeat. A run that dies before step 2
leaves only staging files, which the next run deletes; one that dies during step 3 is rolled
forward by the next run (``recover``), under the output's lock (store/lock.py).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs
from prefect import Task, task
from prefect.assets import materialize
from prefect.cache_policies import NO_CACHE

from schemas.batch import Batch
from schemas.tables import BATCH_TABLES, BREAKDOWNS, RUNS_V1, TABLES
from store import atomic
from store.assets import batch_assets, record_rows
from store.faults import failpoint
from store.layout import (
    EMPTY_PART,
    FENCES,
    READY,
    SINGLE_FILE,
    STAGING,
    Location,
    OutputNotWritable,
    location,
    part,
    run_partition,
    staging,
)
from store.lock import check_held
from store.read import published_counts, table_dataset, value_counts

log = logging.getLogger(__name__)

Output = str | os.PathLike[str] | Location


@dataclass(frozen=True)
class Staged:
    """A batch written aside: where its files are, and the counts the run reports."""

    run_id: str
    key: str
    directory: str
    files: dict[str, str]
    rows: dict[str, int]
    timings: dict[str, float]
    counts: dict[str, dict[str, int]]


def _counts(batch: Batch) -> dict[str, dict[str, int]]:
    """The batch's rows by reason, rule and label (``Staged.counts``)."""
    return {name: value_counts(batch.tables.get(name), column)
            for name, column in BREAKDOWNS.items()}


def stage_batch(batch: Batch, output: Output) -> Staged:
    """Write every table of the batch aside, then mark the batch committed."""
    loc = location(output)
    try:
        return _stage_batch(batch, loc)
    except OSError as exc:
        atomic.remove_tree(loc, loc.path(staging(batch.run_id, batch.key)))
        raise OutputNotWritable(
            f"writing batch {batch.key} to {loc} failed: {exc.strerror or exc}. Published "
            f"tables are unchanged; free space or fix permissions and run again (documents "
            f"already published are skipped)") from exc


class RunFenced(RuntimeError):
    """The run was recovered as dead by a later run: what it stages now is never published."""


def fenced(output: Output, run_id: str) -> bool:
    """Whether a later run recovered ``run_id`` as dead (its staging is then discarded)."""
    loc = location(output)
    return atomic.exists(loc, loc.path(f"{FENCES}/{run_id}"))


def _stage_batch(batch: Batch, loc: Location) -> Staged:
    started = time.perf_counter()
    if fenced(loc, batch.run_id):  # an orphaned worker of a run that died (the flow was killed)
        raise RunFenced(f"run {batch.run_id} was recovered by a later run; batch {batch.key} "
                        "is not staged")
    directory = staging(batch.run_id, batch.key)
    files: dict[str, str] = {}
    rows: dict[str, int] = {}
    for name in BATCH_TABLES:
        table = batch.tables.get(name)
        if table is None or table.num_rows == 0:
            continue
        files[name] = atomic.write_parquet(loc, f"{directory}/{name}.parquet",
                                           table.cast(TABLES[name]))
        rows[name] = table.num_rows
    failpoint("stage")
    atomic.write_bytes(loc, f"{directory}/{READY}",
                       json.dumps({"files": files, "rows": rows}).encode())
    timings = dict(batch.timings, write=time.perf_counter() - started)
    return Staged(batch.run_id, batch.key, loc.path(directory), files, rows, timings,
                  _counts(batch))


def publish_staged(output: Output, run_id: str, key: str, directory: str | os.PathLike[str]
                   ) -> None:
    """Move a committed batch's files into the tables (idempotent: safe to repeat)."""
    loc = location(output)
    directory = str(directory)
    tables = json.loads(atomic.read_bytes(loc, f"{directory}/{READY}"))["rows"]
    for name in BATCH_TABLES:
        if name not in tables:
            continue
        src = f"{directory}/{name}.parquet"
        if atomic.exists(loc, src):
            atomic.move(loc, src, loc.path(part(name, run_id, key)))
            failpoint("publish")
    atomic.remove_tree(loc, directory)
    if loc.local:
        try:
            os.rmdir(os.path.dirname(directory))  # the run's staging folder, once empty
        except OSError:
            pass


def recover(output: Output) -> dict[str, int]:
    """Finish what dead runs left: publish committed batches, delete the rest, and correct the
    dead runs' rows in ``runs`` (status ``interrupted``; counts including what was rolled
    forward, so they match what is published under their run_id).

    Every run recovered here is fenced: a worker of it that outlived its flow (an orphan, once
    the flow was killed) may go on staging batches, and those are discarded, never published:
    their documents are a later run's. Called under the output's lock, so no live run is
    recovered."""
    loc = location(output)
    done = {"rolled_forward": 0, "discarded": 0, "fenced": 0}
    rolled: Counter[str] = Counter()  # run_id -> batches published on its behalf
    recovered: set[str] = set()
    entries = atomic.listing(loc, loc.path(STAGING))
    for stray in (e for e in entries if e.type == pafs.FileType.File):
        loc.fs.delete_file(stray.path)  # a file that was being written aside
    for run_dir in (e for e in entries if e.type == pafs.FileType.Directory):
        run_id = run_dir.base_name
        is_fenced = fenced(loc, run_id)
        for batch_dir in atomic.listing(loc, run_dir.path):
            if batch_dir.type != pafs.FileType.Directory:
                continue
            if atomic.exists(loc, f"{batch_dir.path}/{READY}") and not is_fenced:
                publish_staged(loc, run_id, batch_dir.base_name, batch_dir.path)
                rolled[run_id] += 1
                done["rolled_forward"] += 1
            else:
                atomic.remove_tree(loc, batch_dir.path)
                done["fenced" if is_fenced else "discarded"] += 1
        atomic.remove_tree(loc, run_dir.path)
        recovered.add(run_id)
    dead = _correct_dead_runs(loc, rolled)
    done["interrupted_runs"] = len(dead)
    for run_id in sorted(recovered | dead):
        if not fenced(loc, run_id):
            atomic.write_bytes(loc, f"{FENCES}/{run_id}", b"")
    if any(done.values()):
        log.warning("recovered output of interrupted runs: %s batches published, %s discarded, "
                    "%s staged by workers of runs already recovered (discarded)",
                    done["rolled_forward"], done["discarded"], done["fenced"])
    return done


def _correct_dead_runs(loc: Location, rolled: Counter[str]) -> set[str]:
    """Rows of runs that died (still ``running``: we hold the lock) become ``interrupted``; their
    counts, and those of runs whose committed batches were just rolled forward, are recounted
    from the tables, so they match what is published under their run_id. Returns the runs
    found dead."""
    dataset = table_dataset(loc, "runs")
    if dataset is None:
        return set()
    marked: set[str] = set()
    for row in dataset.to_table().to_pylist():
        run_id = row["run_id"]
        if row["status"] != "running" and run_id not in rolled:
            continue
        if row["status"] == "running":
            marked.add(run_id)
            row["status"] = "interrupted"
            row["message"] = ("the run stopped before it finished (killed or crashed); its "
                              "committed batches are published, the rest was discarded and is "
                              "processed by a later run")
        counts = json.loads(row["counts"])
        counts.update(published_counts(loc, run_id))
        if rolled[run_id]:
            counts["rolled_forward_batches"] = rolled[run_id]
            row["message"] = (f"{row['message'] or ''} [the next run published {rolled[run_id]} "
                              "more committed batches of this run; counts recounted from the "
                              "tables]").strip()
        row["counts"] = json.dumps(counts, sort_keys=True)
        write_run(loc, row)
    return marked


def write_run(output: Output, row: dict) -> str:
    """The run's row in ``runs`` (one file, replaced whole). Once the run is over (any status
    but ``running``) every table of the contract is readable: see ``ensure_tables``."""
    loc = location(output)
    path = atomic.write_parquet(loc, part("runs", row["run_id"], "000000"),
                                pa.Table.from_pylist([row], schema=RUNS_V1))
    if row["status"] != "running":
        ensure_tables(loc, row["run_id"])
    return path


def ensure_tables(output: Output, run_id: str) -> list[str]:
    """Readers never trip: a table this run wrote no rows to gets an empty file with its schema
    under the run's partition, and the entity index one when there is none yet, so every
    table of the contract exists and has the same schema after every run. Returns what it
    wrote."""
    loc = location(output)
    written = []
    for name in TABLES:
        if name in SINGLE_FILE:
            if not atomic.exists(loc, loc.path(SINGLE_FILE[name])):
                written.append(atomic.write_parquet(loc, SINGLE_FILE[name],
                                                    TABLES[name].empty_table()))
            continue
        partition = loc.path(run_partition(name, run_id))
        if not any(e.base_name.endswith(".parquet") for e in atomic.listing(loc, partition)):
            written.append(atomic.write_parquet(loc, f"{run_partition(name, run_id)}/"
                                                f"{EMPTY_PART}", TABLES[name].empty_table()))
    return written


_PUBLISH = dict(name="publish-batch", cache_policy=NO_CACHE, persist_result=False, retries=2,
                retry_delay_seconds=[2, 10])


def _publish(staged: Staged, output: str) -> None:
    check_held(output)
    publish_staged(output, staged.run_id, staged.key, staged.directory)


@functools.cache
def _publish_task(output: str, tables: tuple[str, ...]) -> Task:
    assets = batch_assets(output, tables)
    if not assets:
        return task(_publish, **_PUBLISH)

    def publish(staged: Staged, output: str) -> None:
        _publish(staged, output)
        record_rows(assets, staged.rows, staged.run_id)

    return materialize(*assets, **_PUBLISH)(publish)


def publish_batch(staged: Staged, output: str) -> None:
    """Move a committed batch's files into the tables: a Prefect task that materializes the
    tables it wrote (their lineage in Prefect, store/assets.py)."""
    tables = tuple(name for name in BATCH_TABLES if staged.rows.get(name))
    return _publish_task(str(output), tables)(staged, str(output))
