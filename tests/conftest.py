"""Shared fixtures: a temporary Prefect home and one Prefect test server for the session."""

from __future__ import annotations

import os
import tempfile

# before anything imports prefect: no telemetry, no state left in the user's ~/.prefect
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="mtclean-prefect-")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

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
