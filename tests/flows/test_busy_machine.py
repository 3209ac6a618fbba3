"""A one-off run on a busy machine: Prefect's temporary server is waited for, and when it does not
come up the run fails with one line that says what to do (issue 24)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from tests.support import one_off_run

HOG = "while True: pass"


def cli(source: Path, output: Path, **env: str):
    home = tempfile.mkdtemp(prefix="mtclean-busy-home-")  # a fresh home: the slow first start
    return one_off_run(source, output, home,
                       unset=("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",), **env)


@pytest.fixture
def hogs():
    """A CPU hog on each core, for the length of the test."""
    procs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(os.cpu_count() or 2)]
    yield
    for p in procs:
        p.kill()
        p.wait()


def test_a_run_beside_a_load_on_every_core_completes(hogs, tmp_path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "note.txt").write_text("Ministers met in Vilnius on Monday. They agreed on a plan.\n")
    done = cli(source, tmp_path / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    assert summary["documents"] == 1 and summary["status"] == "completed"
    assert ds.dataset(tmp_path / "out" / "documents", format="parquet").count_rows() == 1


def test_a_server_that_never_answers_fails_in_one_line_naming_the_fixes(tmp_path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "note.txt").write_text("A short note.\n")
    # a wait no first start meets (the server's database is created first): both tries time out
    done = cli(source, tmp_path / "out", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stderr[-3000:]
    assert "did not answer within 1 s, twice" in errors[0]
    for fix in ("make server", "PREFECT_API_URL", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT"):
        assert fix in errors[0]
    assert "starting it again" in done.stderr  # it was retried once
    assert not (tmp_path / "out" / "documents").exists()  # nothing was written
