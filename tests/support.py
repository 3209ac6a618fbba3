"""What several test modules share: a Dask cluster as on a real deployment (a scheduler and
workers started as separate processes on 127.0.0.1, each worker in a folder of its own), and
what two outputs of the same inputs must agree on whatever their run ids, and a one-off run
from a shell."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def one_off_run(source: Path, output: Path, home: Path | str, unset: tuple[str, ...] = (),
                **env: str) -> subprocess.CompletedProcess:
    """``python -m flows.preprocess`` as a user runs it once from a shell: its own PREFECT_HOME,
    no API named (unless ``env`` names one) and no `make server` looked for; ``unset`` the
    test's other settings a run must not see."""
    full = dict(os.environ, PREFECT_HOME=str(home), MTCLEAN_NO_LOCAL_SERVER="1")
    for name in ("PREFECT_API_URL", *unset):
        full.pop(name, None)
    full.update(env)
    return subprocess.run([sys.executable, "-m", "flows.preprocess", "--source", str(source),
                           "--output", str(output), "--runner", "thread"], env=full, cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def dask_cluster(worker_folders: list[Path]) -> Iterator[str]:
    """The scheduler's address, with one worker process per folder (its cwd and local
    directory). Workers report to the Prefect API the tests use."""
    from distributed import Client
    from prefect.settings import PREFECT_API_URL

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value(), OPENBLAS_NUM_THREADS="1")
    dask = str(Path(sys.executable).parent / "dask")
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", "127.0.0.1:0"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        time.sleep(2)
        for home in worker_folders:
            home.mkdir(parents=True, exist_ok=True)
            procs.append(subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                 "--dashboard-address", "127.0.0.1:0", "--no-nanny", "--local-directory",
                 str(home)],
                env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(len(worker_folders), timeout=90)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def by_doc(rows: list[dict], table: str) -> list[tuple]:
    """What must be equal between two outputs of the same inputs, whatever their run ids."""
    keys = {"documents": ("doc_id", "clean_text"), "entities": ("doc_id", "start_char", "label"),
            "edits": ("doc_id", "raw_start", "rule"), "rejects": ("doc_id", "reason")}[table]
    return sorted(tuple(r[k] for k in keys) for r in rows)
