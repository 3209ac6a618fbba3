"""A run's processes die with it: when the process that runs the flow dies (SIGKILL, the OOM
killer, a scheduler killing the parent), the watchdog kills every process it had started.

Without it, a killed flow's pool workers, Prefect's temporary server and the resource tracker
lived on, reparented to PID 1, and an orphan worker went on writing finished batches after the
next run had recovered its run (the store fences those: store/commit.py). The watchdog is a
small process that holds one end of a pipe: the other end closes when the flow's process dies,
whatever killed it. Until then it notes the flow's descendants every half second, so it knows
them once they have been reparented.

    with processes_die_with_this_one():
        ...  # start servers, pools, workers

A normal exit says ``stop`` first: the watchdog then leaves alone what is still shutting down.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

_ACTIVE: list[subprocess.Popen] = []  # one watchdog per process, however deeply entered
_POLL_SECONDS = 0.5


@contextlib.contextmanager
def processes_die_with_this_one() -> Iterator[None]:
    """Inside, every process this one starts (and theirs) is killed if this one dies."""
    if _ACTIVE or not sys.platform.startswith("linux"):
        yield
        return
    try:
        dog = subprocess.Popen([sys.executable, "-m", "flows.watchdog", str(os.getpid())],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               close_fds=True, start_new_session=False)
    except OSError:  # no watchdog is no reason to fail the run
        yield
        return
    _ACTIVE.append(dog)
    try:
        yield
    finally:
        _ACTIVE.remove(dog)
        with contextlib.suppress(OSError, ValueError):
            dog.stdin.write(b"stop\n")
            dog.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            dog.wait(timeout=2)


def _watch(pid: int) -> None:
    """Note ``pid``'s descendants until stdin says ``stop`` (return) or closes (kill them)."""
    import psutil

    known: dict[int, psutil.Process] = {}
    me = os.getpid()
    stopped = threading.Event()
    closed = threading.Event()

    def read() -> None:
        line = sys.stdin.buffer.readline()  # b"" when the flow's process has died
        (stopped if line.strip() == b"stop" else closed).set()

    threading.Thread(target=read, daemon=True).start()
    try:
        flow = psutil.Process(pid)
    except psutil.Error:
        return
    while not stopped.is_set() and not closed.is_set():
        with contextlib.suppress(psutil.Error):
            for child in flow.children(recursive=True):
                if child.pid != me:
                    known.setdefault(child.pid, child)
        closed.wait(_POLL_SECONDS)
    if stopped.is_set():
        return
    # the flow's process is gone: so must be what it started (psutil checks each is still the
    # process noted, not a new one with a reused pid)
    alive = []
    for child in known.values():
        with contextlib.suppress(psutil.Error):
            if child.is_running():
                # a process those had started since the last look goes too
                alive.extend(child.children(recursive=True))
                alive.append(child)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()


if __name__ == "__main__":
    _watch(int(sys.argv[1]))
