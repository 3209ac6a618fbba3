"""The same flow on every task runner gives the same tables (issue: scale out on Dask)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from flows.preprocess import preprocess
from tests.support import dask_cluster

pytestmark = pytest.mark.usefixtures("prefect_harness")

TABLES = ("documents", "edits", "flags", "sentences", "entities", "rejects", "sightings")
VOLATILE = {"run_id", "processed_at", "rejected_at", "seen_at"}


def snapshot(out: Path) -> dict[str, list[str]]:
    """Every table's rows, without the columns that differ between runs, in a stable order."""
    result = {}
    for table in TABLES:
        if not (out / table).exists():
            result[table] = []
            continue
        rows = ds.dataset(out / table, format="parquet", partitioning="hive").to_table()
        rows = rows.drop_columns([c for c in rows.column_names if c in VOLATILE])
        result[table] = sorted(repr(sorted(r.items())) for r in rows.to_pylist())
    return result


# What the tables of data/raw (batches of 4) were before the steps were redesigned ("One shape,
# said once"): a digest per table, so a refactoring that claims to change nothing can show it.
# A change meant to change the output updates the file: python -m tests.flows.test_runners OUT
GOLDEN = Path(__file__).with_name("data_raw_tables.json")
PLACES = {"source", "path", "first_source"}  # paths, made relative to the checkout
ENVIRONMENT = {"cleaner_version", "model", "grouping_version"}  # digests of installed releases, tested elsewhere


def fingerprint(out: Path, root: Path) -> dict[str, dict]:
    """Row count and digest of every table, without run ids, timestamps, installed versions,
    and with paths relative to ``root`` (the same on every checkout)."""
    result = {}
    for table in TABLES:
        rows = []
        if (out / table).exists():
            data = ds.dataset(out / table, format="parquet", partitioning="hive").to_table()
            data = data.drop_columns([c for c in data.column_names
                                      if c in VOLATILE | ENVIRONMENT])
            rows = [{k: v.removeprefix(f"{root}/") if k in PLACES and v else v
                     for k, v in r.items()} for r in data.to_pylist()]
        lines = sorted(repr(sorted(r.items())) for r in rows)
        result[table] = {"rows": len(lines),
                         "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()}
    return result


@pytest.fixture(scope="module")
def reference_output(tmp_path_factory, sample_dir) -> Path:
    out = tmp_path_factory.mktemp("thread")
    preprocess(source=str(sample_dir), output=str(out), runner="thread", batch_size=4)
    return out


@pytest.fixture(scope="module")
def reference(reference_output) -> dict[str, list[str]]:
    snap = snapshot(reference_output)
    assert len(snap["documents"]) == 20
    return snap


def test_tables_are_those_of_before_the_redesign(reference_output, sample_dir) -> None:
    assert fingerprint(reference_output, sample_dir) == json.loads(GOLDEN.read_text())["tables"]


def test_process_pool_matches_threads(reference, tmp_path, sample_dir) -> None:
    preprocess(source=str(sample_dir), output=str(tmp_path), runner="process", workers=2,
               batch_size=4)
    assert snapshot(tmp_path) == reference


def test_local_dask_cluster_matches_threads(reference, tmp_path, sample_dir) -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0", host="127.0.0.1") as cluster:
        preprocess(source=str(sample_dir), output=str(tmp_path), runner="dask",
                   dask_address=cluster.scheduler_address, batch_size=4)
    assert snapshot(tmp_path) == reference


def test_the_flow_process_loads_no_spacy_until_a_model_is_used() -> None:
    """A run on a pool or a cluster never loads the model in the flow process: spaCy is not
    imported there (32 MB and 0.4 s) until something in it uses a model or draws a report."""
    import subprocess
    import sys

    code = ("import sys, flows.preprocess, tasks.process, tasks.report; "
            "print(sorted(m for m in ('spacy', 'thinc') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


def test_an_existing_cluster_is_kept_busy_by_its_size_not_this_machines() -> None:
    """Batches in flight follow the cluster's threads: three workers on a two-core machine
    get three batches at once (plus one ready), not two."""
    from distributed import LocalCluster

    from flows.runners import cluster_slots

    with LocalCluster(n_workers=3, threads_per_worker=1, processes=False, protocol="tcp",
                      dashboard_address="127.0.0.1:0", host="127.0.0.1") as cluster:
        assert cluster_slots(cluster.scheduler_address) == 3


def test_external_scheduler_and_worker_processes(reference, tmp_path, sample_dir) -> None:
    """A scheduler and a worker started as separate processes, as on a real cluster."""
    with dask_cluster([tmp_path / "worker"]) as address:
        preprocess(source=str(sample_dir), output=str(tmp_path / "out"), runner="dask",
                   dask_address=address, batch_size=4)
    assert snapshot(tmp_path / "out") == reference


def test_auto_runs_small_inputs_in_process_and_large_ones_on_the_pool(tmp_path) -> None:
    from flows.runners import AUTO_POOL_BYTES, choose_runner

    small, large, packed = tmp_path / "small.txt", tmp_path / "large.txt", tmp_path / "p.txt.gz"
    small.write_bytes(b"x" * 1000)
    large.write_bytes(b"x" * AUTO_POOL_BYTES)
    packed.write_bytes(b"x" * (AUTO_POOL_BYTES // 3))  # a .gz counts as 4x its size
    assert choose_runner("auto", [str(small)]) == "thread"
    assert choose_runner("auto", [str(small), str(large)]) == "process"
    assert choose_runner("auto", [str(packed)]) == "process"
    assert choose_runner("auto", [str(small)], "tcp://127.0.0.1:8786") == "dask"
    assert choose_runner("process", [str(small)]) == "process"
    with pytest.raises(ValueError, match="choose auto, thread, process, dask"):
        choose_runner("pool", [str(small)])


def test_auto_runner_matches_threads(reference, tmp_path, sample_dir) -> None:
    preprocess(source=str(sample_dir), output=str(tmp_path), batch_size=4)
    assert snapshot(tmp_path) == reference


def test_pool_workers_use_the_runs_temporary_server(tmp_path, sample_dir) -> None:
    """Issue 11: each spawned worker used to start a temporary API server of its own; later the
    pool's message forwarder did (a thread that does not see the run's settings)."""
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "home"), OPENBLAS_NUM_THREADS="1")
    env.pop("PREFECT_API_URL", None)
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "flows.preprocess", "--source", str(sample_dir),
                           "--output", str(tmp_path / "out"), "--runner", "process",
                           "--workers", "2", "--batch-size", "4"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    # the run's own server only (flows/server.py), not Prefect's as well: the pool's message
    # forwarder, a thread outside the run's settings, used to start one (port 8000-8999)
    assert "Starting temporary server" not in log, log[-3000:]
    assert '"documents": 20' in done.stdout


if __name__ == "__main__":  # write GOLDEN from an output of data/raw run with --batch-size 4
    import sys

    root = Path(__file__).resolve().parents[2] / "data" / "raw"
    GOLDEN.write_text(json.dumps(
        {"about": "tables of data/raw, batch_size=4; see test_tables_are_those_of_before_the_"
                  "redesign", "tables": fingerprint(Path(sys.argv[1]), root)}, indent=1) + "\n")
