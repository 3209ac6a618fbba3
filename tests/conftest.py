"""Shared fixtures: a temporary Prefect home and one Prefect test server for the session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# before anything imports prefect: no telemetry, no state left in the user's ~/.prefect
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="mtclean-prefect-")
atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# a developer's `make server` on 127.0.0.1:4200 must not receive the tests' runs
os.environ["MTCLEAN_NO_LOCAL_SERVER"] = "1"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI explores the same (thousands of) generated inputs every time, so a landing never depends
# on luck; local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def prefect_harness():
    """A real (temporary) Prefect API for flow runs in this session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return REPO / "data" / "raw"
