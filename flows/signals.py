"""Ctrl-C and SIGTERM: the run stops within seconds, records itself as interrupted, and leaves
nothing it started running.

A signal handler only notes the request (``STOP``); the flow acts on it between documents and
batches (``STOP.check()``). If the run cannot stop in time (blocked on a Prefect API that died
of the same Ctrl-C), ``stop_now`` records the run, stops every child process and exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import NoReturn

import psutil

from flows.server import drain_prefect_services


class Interrupted(RuntimeError):
    """Ctrl-C or SIGTERM reached the run: it stops at the next document or batch."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class _StopRequest:
    """A stop asked for by a signal: the handler only notes it, the flow acts on it between
    documents and batches. (An exception raised by a handler lands anywhere: a SIGTERM inside
    Prefect's serializer failed the run instead of interrupting it.)"""

    signum: int | None = None
    cli = False  # main() owns the process's signals
    # records the run as interrupted if the flow cannot do it in time (blocked on a Prefect
    # API that died of the same Ctrl-C); set while a run holds its output
    record: Callable[[], object] | None = None
    # held while a batch is published: stopping waits (briefly) for the batch in hand, so the
    # tables never hold half of one when the run stops
    publishing = threading.Lock()

    def check(self) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum)


STOP = _StopRequest()
# For the flow to stop by itself (between documents and batches); then it is stopped: the
# prompt is back within a few seconds of Ctrl-C, whatever the flow was waiting for.
_GRACE_SECONDS = 1.0
_PUBLISH_WAIT = 1.5  # for a batch being published to be whole (then the next run finishes it)
_DRAIN_SECONDS = 1.0  # for Prefect's events and logs to reach an API that is still up
_TERMINATE_SECONDS = 1.0  # for children to exit on SIGTERM, then SIGKILL


def on_signal(signum: int, frame: object) -> None:
    if STOP.signum is not None:  # asked twice: stop now
        stop_now(128 + signum, wait=False)
    STOP.signum = signum
    logging.getLogger(__name__).warning(
        "%s: stopping (within %.0f s; send it again to stop now)",
        signal.Signals(signum).name, _GRACE_SECONDS)
    timer = threading.Timer(_GRACE_SECONDS, stop_now, args=(128 + signum,))
    timer.daemon = True
    timer.start()


def owns_signals() -> bool:
    """Whether this process's signals are the run's: the command line's (main()), or a
    deployment's flow-run process, which a worker or `prefect flow serve` started to run one flow
    run. Not a flow called from Python (a test, a notebook)."""
    if STOP.cli or os.environ.get("PREFECT__FLOW_RUN_ID"):  # `python -m prefect.engine`
        return True
    # `flow.serve()` from Python runs its flow in a spawned process without that variable; the
    # engine notes the deployment's id for the run and its subflows (no API call)
    from prefect.runtime import deployment

    noted = getattr(deployment, "_deployment_id", None)
    return noted is not None and noted.get() is not None


@contextlib.contextmanager
def signals_noted() -> Iterator[None]:
    """Within the run, Ctrl-C and SIGTERM are noted, not raised (Prefect's own SIGTERM handler,
    which raises, is set aside and put back).

    In a deployment's run this is how a cancel (the UI, `prefect flow-run cancel`) stops it:
    the runner sends SIGTERM to the flow run's process (a worker's: to its process group),
    checks every 3 s, SIGKILLs it after 30 s. Prefect's handler raised TerminationSignal
    wherever the flow was (once inside Prefect's own serializer: the run recorded `failed`).
    Noted instead, the run stops as on the command line: recorded `interrupted`, its workers
    stopped, out within seconds. Prefect's runner then finds the process gone and ends the flow
    run Cancelled (a flow run being cancelled can end in no other state). Outside this block
    Prefect's own handling stands."""
    if not owns_signals() or threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def stop_now(code: int, wait: bool = True) -> NoReturn:
    """Leave within seconds of Ctrl-C or SIGTERM, with nothing the run started left running.

    Prefect's exit-time drain waits (for minutes) on an API that may have died of the same
    signal: Ctrl-C reaches the whole process group, its temporary server included. Give the
    drain a few seconds, then stop every child process (the temporary server, the workers)
    and exit without the drain. The runs row is already written by then.

    A batch being published is let finish (``wait``: for up to ``_PUBLISH_WAIT``; past that
    the next run rolls it forward). In a deployment's run being cancelled, the runner then
    finds the process gone and ends the flow run Cancelled."""
    # (no batch starts after the signal: the flow checks STOP before each)
    held = STOP.publishing.acquire(timeout=_PUBLISH_WAIT if wait else 0)
    try:
        record, STOP.record = STOP.record, None
        if record is not None:
            try:
                record()
            except Exception:
                logging.getLogger(__name__).exception("could not record the interrupted run")
    finally:
        if held:  # the flow may still be unwinding: its own cleanup goes on meanwhile
            STOP.publishing.release()
    drain = threading.Thread(target=drain_prefect_services, args=(2.5,),
                             daemon=True)
    drain.start()
    drain.join(_DRAIN_SECONDS)
    for _ in range(2):  # twice: a child started while the first ones stopped goes too
        children = psutil.Process().children(recursive=True)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.terminate()
        _, alive = psutil.wait_procs(children, timeout=_TERMINATE_SECONDS)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def install_handlers() -> None:
    """For the command line: this process owns its signals (a deployment's run takes them
    within ``signals_noted``)."""
    STOP.cli = True
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
