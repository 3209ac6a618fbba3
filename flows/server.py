"""Which Prefect API a run talks to: the one ``PREFECT_API_URL`` names (``configured_server``),
else the one ``make server`` starts, if it answers (``local_server``: the run's history stays in
its UI), else the run's own temporary server, for a one-off run with no server to talk to.

Prefect starts the same server by itself (its "ephemeral" server), but only once the flow is
called, and its launcher lives in ``prefect.server.api.server``, whose import alone took 3.7 s
of this process's 10.8 s one-document run. Started here, it boots in its own process while
this one imports the flow and loads the model: the same app (Prefect's
``prefect.server.api.server:create_app``, with Prefect's ephemeral-server settings), the same
database under ``PREFECT_HOME``, on a free port of 127.0.0.1, stopped when the run ends (and by
the watchdog, flows/watchdog.py, if the run is killed).

- waited for as long as a busy machine needs (``TEMPORARY_SERVER_WAIT``, or Prefect's own
  ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` when set), started once more if it did
  not answer, then one line that says what to do (``TemporaryServerTimeout``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

# Prefect waits 20 s for its temporary server by default: a busy machine needs longer. Used when
# PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS is not set; a value set there is respected.
TEMPORARY_SERVER_WAIT = 120
_PREFECT_DEFAULT_WAIT = 20
LOCAL_SERVER = "http://127.0.0.1:4200/api"  # `make server`'s (MTCLEAN_PREFECT_SERVER to change)

log = logging.getLogger(__name__)


class TemporaryServerTimeout(RuntimeError):
    pass


class ConfiguredServerDown(RuntimeError):
    pass


def answers(url: str, timeout: float) -> int | None:
    """The HTTP status of the API's /health at ``url``, or None when nothing answers."""
    import httpx

    try:
        return httpx.get(f"{url.rstrip('/')}/health", timeout=timeout).status_code
    except httpx.HTTPError:
        return None


def configured_server() -> str | None:
    """The API named by ``PREFECT_API_URL`` (the environment or the Prefect profile), if one is;
    the run then uses it, never a server of its own. Raises ``ConfiguredServerDown``, with what
    to do, when nothing answers there (any HTTP answer counts: a cloud workspace URL has no
    /health of its own)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return None
    if answers(url, timeout=5) is None:
        raise ConfiguredServerDown(
            f"PREFECT_API_URL={url} does not answer; nothing was written. Start that server "
            "(`make server` starts one on 127.0.0.1:4200), or unset PREFECT_API_URL for a run "
            "with a temporary server of its own")
    return url


def local_server(url: str | None = None) -> str | None:
    """The local server's API URL (``MTCLEAN_PREFECT_SERVER``, default ``LOCAL_SERVER``) if no
    API is configured and a Prefect server there is healthy, else None."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value() or os.environ.get("MTCLEAN_NO_LOCAL_SERVER"):
        return None
    url = url or os.environ.get("MTCLEAN_PREFECT_SERVER") or LOCAL_SERVER
    return url if answers(url, timeout=0.5) == 200 else None


def startup_wait() -> float:
    """Seconds to wait for the server: Prefect's setting if set, else ``TEMPORARY_SERVER_WAIT``."""
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    wait = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
    return TEMPORARY_SERVER_WAIT if wait == _PREFECT_DEFAULT_WAIT else wait


def prefect_starts_no_server() -> None:
    """From now on, neither this process nor any it starts lets Prefect start a server of its
    own: a Prefect client made where this run's API URL is not set (a thread after the run's
    settings were left, a worker started without it) would otherwise start Prefect's ephemeral
    server, which outlived an interrupted run (a uvicorn on port 8xxx, reparented to PID 1). Such
    a client now fails instead ("No Prefect API URL provided"). For the command line, which
    always names its server: a given one, or the temporary one above."""
    from prefect.context import refresh_global_settings_context

    os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"
    os.environ.pop("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", None)  # the same setting, older name
    refresh_global_settings_context()


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(port: int) -> subprocess.Popen:
    """Prefect's API app on ``port``, as Prefect's own temporary server runs it (no UI)."""
    import prefect
    from prefect.settings import get_current_settings

    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
           "PREFECT__SERVER_FINAL": "1",
           **get_current_settings().to_environment_variables(exclude_unset=True)}
    env.pop("PREFECT_API_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent),
         "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "error", "--lifespan", "on"],
        env=env, stdin=subprocess.DEVNULL)


def _answers(url: str, process: subprocess.Popen, wait: float) -> bool:
    import httpx

    deadline = time.monotonic() + wait
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"{url}/health").status_code == 200:
                    return True
            time.sleep(0.1)
    return False


def drain_prefect_services(timeout: float) -> None:
    """Send what this process still holds for the API (its logs and events): Prefect sends them
    from background services, and one left with nowhere to send retries for a minute and a half
    at exit ("All connection attempts failed"). Called before the temporary server stops, and by
    a stop (flows/signals.py)."""
    from prefect._internal.concurrency.services import _QueueServiceBase  # every service

    with contextlib.suppress(Exception):
        _QueueServiceBase.drain_all(timeout=timeout)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def temporary_server(meanwhile: Callable[[], object] = lambda: None) -> Iterator[str]:
    """A Prefect API server for this run; yields its URL. ``meanwhile`` runs while the server
    boots (the first time). Raises ``TemporaryServerTimeout`` if it does not answer, twice."""
    wait = startup_wait()
    process = None
    try:
        for attempt in (1, 2):
            port = _free_port()
            log.info("starting a temporary Prefect server on http://127.0.0.1:%d", port)
            process = _start(port)
            if attempt == 1:
                meanwhile()
            url = f"http://127.0.0.1:{port}/api"
            if _answers(url, process, wait):
                break
            code = process.poll()
            _stop(process)
            if attempt == 2:
                raise TemporaryServerTimeout(
                    f"Prefect's temporary API server did not answer within {wait:g} s, twice (the "
                    "machine may be busy); nothing was written. Start a server once with `make "
                    "server` (runs then use it), or set PREFECT_API_URL to a running one, or "
                    "wait longer with PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS")
            log.warning("Prefect's temporary API server %s; starting it again",
                        f"exited (code {code})" if code is not None
                        else f"did not answer within {wait:g} s")
        yield url
    finally:
        if process is not None and process.poll() is None:
            drain_prefect_services(timeout=10)
            _stop(process)
