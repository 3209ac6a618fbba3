"""Rows -> Arrow tables -> Parquet files, published atomically.

Commit protocol (see README "What happens when things go wrong"):
1. a batch's tables are written under ``<output>/_staging/<run_id>/<batch>/`` and fsynced;
2. a ``_READY`` marker is written there: from now on the batch is committed;
3. the files are renamed into ``<output>/<table>/run_id=<run_id>/part-<batch>.parquet``
   (child tables first, ``documents`` and ``rejects`` last) and the staging folder removed.
A run that dies before step 2 leaves only staging files, which the next run deletes; one that
dies during step 3 is rolled forward by the next run. Runs on one output take an exclusive lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from schemas.tables import BATCH_TABLES, RUNS_V1, TABLES
from tasks.batch import Batch
from tasks.faults import failpoint

log = logging.getLogger(__name__)

STAGING = "_staging"
READY = "_READY"
LOCK = ".lock"


class OutputNotWritable(RuntimeError):
    pass


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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_table(table: pa.Table, path: Path) -> None:
    """One zstd Parquet file, flushed to disk."""
    with open(path, "wb") as fh:
        pq.write_table(table, fh, compression="zstd", write_statistics=True)
        fh.flush()
        os.fsync(fh.fileno())


def check_output(output: str | os.PathLike[str]) -> Path:
    """Create the output folder or fail at once with what to do about it."""
    out = Path(output)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".probe-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise OutputNotWritable(
            f"output {str(out)!r} cannot be written ({exc.strerror or exc}); choose another "
            f"folder with --output or fix its permissions"
        ) from exc
    return out


def _counts(batch: Batch) -> dict[str, dict[str, int]]:
    def by(name: str, column: str) -> dict[str, int]:
        t = batch.tables.get(name)
        if t is None or not t.num_rows:
            return {}
        vc = t.column(column).value_counts().to_pylist()
        return {v["values"]: v["counts"] for v in vc}

    return {"rejects": by("rejects", "reason"), "edits": by("edits", "rule"),
            "flags": by("flags", "rule"), "entities": by("entities", "label")}


def stage_batch(batch: Batch, output: Path) -> Staged:
    """Write every table of the batch aside, then mark the batch committed."""
    try:
        return _stage_batch(batch, output)
    except OSError as exc:
        shutil.rmtree(output / STAGING / batch.run_id / batch.key, ignore_errors=True)
        raise OutputNotWritable(
            f"writing batch {batch.key} to {output} failed: {exc.strerror or exc}. Published "
            f"tables are unchanged; free space or fix permissions and run again (documents "
            f"already published are skipped)") from exc


def _stage_batch(batch: Batch, output: Path) -> Staged:
    started = time.perf_counter()
    directory = output / STAGING / batch.run_id / batch.key
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    rows: dict[str, int] = {}
    for name in BATCH_TABLES:
        table = batch.tables.get(name)
        if table is None or table.num_rows == 0:
            continue
        path = directory / f"{name}.parquet"
        write_table(table.cast(TABLES[name]), path)
        files[name] = str(path)
        rows[name] = table.num_rows
    failpoint("stage")
    ready = directory / READY
    with open(ready, "w") as fh:
        json.dump({"files": files, "rows": rows}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(directory)
    timings = dict(batch.timings, write=time.perf_counter() - started)
    return Staged(batch.run_id, batch.key, str(directory), files, rows, timings, _counts(batch))


def _final_path(output: Path, table: str, run_id: str, key: str) -> Path:
    return output / table / f"run_id={run_id}" / f"part-{key}.parquet"


def publish_staged(output: Path, run_id: str, key: str, directory: Path) -> None:
    """Move a committed batch's files into the tables (idempotent: safe to repeat)."""
    ready = directory / READY
    files = json.loads(ready.read_text())["files"]
    for name in BATCH_TABLES:
        if name not in files:
            continue
        src = Path(files[name])
        if not src.is_absolute() or not src.exists():
            src = directory / f"{name}.parquet"
        dst = _final_path(output, name, run_id, key)
        if src.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            _fsync_dir(dst.parent)
            failpoint("publish")
    shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(OSError):
        directory.parent.rmdir()  # the run's staging folder, once its last batch is out


def recover(output: Path) -> dict[str, int]:
    """Finish what dead runs left: publish committed batches, delete the rest, and correct the
    dead runs' rows in ``runs`` (status ``interrupted``; counts including what was rolled
    forward, so they match what is published under their run_id)."""
    staging = output / STAGING
    done = {"rolled_forward": 0, "discarded": 0}
    rolled: Counter[str] = Counter()  # run_id -> batches published on its behalf
    entries = sorted(staging.iterdir()) if staging.is_dir() else []
    for stray in (p for p in entries if not p.is_dir()):
        stray.unlink(missing_ok=True)  # a runs row that was being written
    for run_dir in (p for p in entries if p.is_dir()):
        for batch_dir in sorted(p for p in run_dir.iterdir() if p.is_dir()):
            if (batch_dir / READY).exists():
                publish_staged(output, run_dir.name, batch_dir.name, batch_dir)
                rolled[run_dir.name] += 1
                done["rolled_forward"] += 1
            else:
                shutil.rmtree(batch_dir, ignore_errors=True)
                done["discarded"] += 1
        shutil.rmtree(run_dir, ignore_errors=True)
    done["interrupted_runs"] = _correct_dead_runs(output, rolled)
    if any(done.values()):
        log.warning("recovered output of interrupted runs: %s batches published, %s discarded",
                    done["rolled_forward"], done["discarded"])
    return done


_BREAKDOWNS = {"rejects": ("reason", "rejects_by_reason"), "edits": ("rule", "edits_by_rule"),
               "flags": ("rule", "flags_by_rule"), "entities": ("label", "entities_by_label")}


def published_counts(output: Path, run_id: str) -> dict:
    """Rows published under ``run_id`` per table, and the rejects/edits/flags/entities by
    reason, rule and label: a run's counts as the tables have them."""
    counts: dict = {}
    flt = ds.field("run_id") == run_id
    for name in ("documents", "rejects", "edits", "flags", "sentences", "entities"):
        dataset = table_dataset(output, name)
        column, key = _BREAKDOWNS.get(name, (None, None))
        if column is None:
            counts[name] = 0 if dataset is None else dataset.count_rows(filter=flt)
            continue
        values = ([] if dataset is None else
                  dataset.to_table(columns=[column], filter=flt).column(column).to_pylist())
        counts[name] = len(values)
        counts[key] = dict(Counter(values))
    return counts


def _correct_dead_runs(output: Path, rolled: Counter[str]) -> int:
    """Rows of runs that died (still ``running``: we hold the lock) become ``interrupted``; their
    counts, and those of runs whose committed batches were just rolled forward, are recounted
    from the tables, so they match what is published under their run_id."""
    dataset = table_dataset(output, "runs")
    if dataset is None:
        return 0
    marked = 0
    for row in dataset.to_table().to_pylist():
        run_id = row["run_id"]
        if row["status"] != "running" and run_id not in rolled:
            continue
        if row["status"] == "running":
            marked += 1
            row["status"] = "interrupted"
            row["message"] = ("the run stopped before it finished (killed or crashed); its "
                              "committed batches are published, the rest was discarded and is "
                              "processed by a later run")
        counts = json.loads(row["counts"])
        counts.update(published_counts(output, run_id))
        if rolled[run_id]:
            counts["rolled_forward_batches"] = rolled[run_id]
            row["message"] = (f"{row['message'] or ''} [the next run published {rolled[run_id]} "
                              "more committed batches of this run; counts recounted from the "
                              "tables]").strip()
        row["counts"] = json.dumps(counts, sort_keys=True)
        write_run(output, row)
    return marked


@contextlib.contextmanager
def output_lock(output: Path, poll_seconds: float = 2.0) -> Iterator[None]:
    """Exclusive lock on an output folder for the length of a run (released if we die)."""
    fh = open(output / LOCK, "a+")
    try:
        waited = 0.0
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if waited == 0 or int(waited) % 30 == 0:
                    log.info("waiting for another run that is writing to %s", output)
                time.sleep(poll_seconds)
                waited += poll_seconds
        yield
    finally:
        fh.close()


def table_dataset(output: Path, name: str) -> ds.Dataset | None:
    path = output / name
    if not path.is_dir() or not any(path.rglob("*.parquet")):
        return None
    return ds.dataset(path, format="parquet", partitioning="hive", schema=TABLES[name])


@dataclass(frozen=True)
class Published:
    """What earlier runs with these versions recorded, so that a rerun records nothing twice."""

    documents: dict[str, str]  # doc_id -> the source it was published from
    inputs: set[tuple[str, str]]  # (doc_id, source) of every published document, reject, move
    paths: dict[str, str] = field(default_factory=dict)  # source -> its file (from sightings)


def published_ids(output: Path, cleaner: str, model: str) -> Published:
    """Everything already in documents, rejects or sightings for these versions."""
    documents: dict[str, str] = {}
    inputs: set[tuple[str, str]] = set()
    paths: dict[str, str] = {}
    flt = (ds.field("cleaner_version") == cleaner) & (ds.field("model") == model)
    for name in ("documents", "rejects"):
        dataset = table_dataset(output, name)
        if dataset is None:
            continue
        table = dataset.to_table(columns=["doc_id", "source"], filter=flt)
        pairs = zip(table.column("doc_id").to_pylist(), table.column("source").to_pylist())
        for doc_id, source in pairs:
            inputs.add((doc_id, source))
            if name == "documents":
                documents.setdefault(doc_id, source)
    sightings = table_dataset(output, "sightings")
    if sightings is not None:
        table = sightings.to_table(columns=["doc_id", "source", "path", "first_source"],
                                   filter=flt)
        for doc_id, source, path, first in zip(*(c.to_pylist() for c in table.columns)):
            paths[source] = path
            if source != first:  # a second copy or a moved row: seen, recorded, not again
                inputs.add((doc_id, source))
    return Published(documents, inputs, paths)


def write_run(output: Path, row: dict) -> Path:
    """The run's row in ``runs``, written aside and renamed into place."""
    path = _final_path(output, "runs", row["run_id"], "000000")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = output / STAGING / f"run-{row['run_id']}-{os.getpid()}.parquet"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    write_table(pa.Table.from_pylist([row], schema=RUNS_V1), tmp)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path



@task(name="publish-batch", cache_policy=NO_CACHE, persist_result=False, retries=2,
      retry_delay_seconds=[2, 10])
def publish_batch(staged: Staged, output: str) -> None:
    """Rename a committed batch's files into the tables."""
    publish_staged(Path(output), staged.run_id, staged.key, Path(staged.directory))
