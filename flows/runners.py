"""Where a run's batches execute, and which Prefect API its processes talk to.

- ``choose_runner``: "auto" runs a small input in the flow's own process (a pool's start-up,
  spawning workers that import Prefect and spaCy and load the model, costs more than it saves)
  and a large one on a process pool; an address means Dask.
- ``workers_share_this_api``: worker processes report to the run's own API. Without it every
  spawned worker of a run on Prefect's temporary server starts a temporary server of its own.
- ``subflows_beat_with_their_parent``: the batches' subflow sends no heartbeats of its own.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

RUNNERS = ("auto", "thread", "process", "dask")
# Below this many bytes to read (a .gz counted as four times its size) "auto" runs in-process:
# on 2 cores, two workers take ~10 s to start and one process annotates ~70 KB/s, so a pool
# gains nothing under ~1.5 MB.
AUTO_POOL_BYTES = 2_000_000


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cluster_slots(address: str) -> int:
    """How many tasks the Dask cluster at ``address`` runs at once (its workers' threads, when
    the run starts): the run keeps that many batches in flight, not this machine's cores."""
    from distributed import Client

    with Client(address, timeout="30s") as client:
        return max(1, sum(client.nthreads().values()))


def input_bytes(sources: list[str]) -> int:
    """About how many bytes the sources hold once read."""
    total = 0
    for path in sources:
        try:
            size = os.path.getsize(path)
        except OSError:
            continue
        total += size * 4 if path.endswith(".gz") else size
    return total


def choose_runner(runner: str, sources: list[str], dask_address: str | None = None) -> str:
    """The runner "auto" stands for on these sources; any other runner as given."""
    if runner not in RUNNERS:
        raise ValueError(f"unknown runner {runner!r}; choose {', '.join(RUNNERS)}")
    if runner != "auto":
        return runner
    if dask_address:
        return "dask"
    return "thread" if input_bytes(sources) < AUTO_POOL_BYTES else "process"


def make_task_runner(runner: str, workers: int, dask_address: str | None = None) -> TaskRunner:
    """The task runner for the batch tasks: one thread (this process), a process pool, or Dask."""
    if runner == "thread":
        return ThreadPoolTaskRunner(max_workers=1)
    if runner == "process":
        return ProcessPoolTaskRunner(max_workers=workers)
    if runner == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1,
                                              "processes": True,
                                              "dashboard_address": "127.0.0.1:0"})
    raise ValueError(f"unknown runner {runner!r}; choose thread, process or dask")


@contextlib.contextmanager
def workers_share_this_api() -> Iterator[str | None]:
    """Inside, processes started for the run talk to this process's Prefect API, also when it is
    the temporary server this process started. Yields the API's URL."""
    from prefect import get_client
    from prefect.context import refresh_global_settings_context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = PREFECT_API_URL.value() or str(get_client(sync_client=True).api_url).rstrip("/")
    before = os.environ.get("PREFECT_API_URL")
    # spawned pool workers and a local Dask cluster's workers read the environment, not this
    # process's settings (a URL set only there, e.g. the run's own temporary server's, is lost);
    # and a thread Prefect starts without this context (the process pool's message forwarder,
    # which sends the workers' events) reads the global settings: without the URL there it
    # started Prefect's own temporary server, a second one (port 8000-8999), which outlived an
    # interrupted run when it was started as the run stopped
    os.environ["PREFECT_API_URL"] = url
    refresh_global_settings_context()
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            yield url
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before
        refresh_global_settings_context()


@contextlib.contextmanager
def subflows_beat_with_their_parent() -> Iterator[None]:
    """Inside, flow runs send no heartbeats: the run's own flow run, started before, keeps
    beating for the whole run. Prefect's heartbeat thread sleeps in steps of one second and is
    joined when its flow run ends, so every flow run with heartbeats ends up to a second late
    (a hello-world flow against a running server: 1.0 s from its task's end to its own)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
