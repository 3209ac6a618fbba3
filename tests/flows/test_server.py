"""Which Prefect API a one-off run talks to (flows/server.py): the one PREFECT_API_URL names, when
one is named; a temporary server of its own otherwise; and never a server Prefect starts by
itself behind the run's back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, one_off_run


@pytest.fixture
def source(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "note.txt").write_text("Ministers met in Vilnius on Monday. They agreed on a plan.\n")
    return folder


def test_a_run_uses_the_server_prefect_api_url_names(prefect_harness, source, tmp_path) -> None:
    """It used to start a temporary server of its own all the same: the run never showed in the
    user's server (and a dead PREFECT_API_URL went unnoticed)."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL

    out = tmp_path / "out"
    done = one_off_run(source, out, tmp_path / "home", PREFECT_API_URL=PREFECT_API_URL.value())
    assert done.returncode == 0, done.stderr[-3000:]
    assert "temporary Prefect server" not in done.stderr
    assert json.loads(done.stdout[done.stdout.index("{"):])["documents"] == 1
    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs(limit=200)
                if r.parameters.get("output") == str(out)]
    assert [r.state.type.value for r in runs] == ["COMPLETED"]


def test_a_dead_prefect_api_url_fails_in_one_line_and_writes_nothing(source, tmp_path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = one_off_run(source, tmp_path / "out", tmp_path / "home",
                       PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and f"PREFECT_API_URL=http://127.0.0.1:{port}/api" in errors[0]
    assert "make server" in errors[0]
    assert not (tmp_path / "out").exists()


def test_after_prefect_starts_no_server_a_client_without_a_url_fails_and_starts_nothing(
        tmp_path) -> None:
    """The run's own processes: a Prefect client made where the run's URL is not set (another
    thread, after the run's settings were left) started Prefect's ephemeral server, which
    outlived an interrupted run. From any thread, it now fails and starts no process."""
    script = (
        "import threading, psutil\n"
        "from flows.server import prefect_starts_no_server\n"
        "prefect_starts_no_server()\n"
        "from prefect import get_client\n"
        "errors = []\n"
        "def make():\n"
        "    try:\n"
        "        get_client(sync_client=True)\n"
        "    except ValueError as exc:\n"
        "        errors.append(str(exc))\n"
        "make()\n"
        "t = threading.Thread(target=make); t.start(); t.join()\n"
        "print(len(errors), len(psutil.Process().children(recursive=True)))\n")
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "home"),
               PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="true")  # as Prefect's default profile has it
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["2", "0"]
