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


# --- an S3-compatible server (moto) on 127.0.0.1 for the object-store tests

S3_KEY, S3_SECRET = "mtclean-test-key", "mtclean-test-secret-do-not-log"


@pytest.fixture(scope="session")
def s3_server() -> str:
    """A real S3-compatible server in its own process; the AWS_* variables point at it for
    this session (and the processes it starts), as a user's would at their store."""
    import socket
    import subprocess
    import sys
    import time

    import boto3

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
           "AWS_EC2_METADATA_DISABLED": "true"}
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        deadline = time.time() + 60
        while True:
            try:
                boto3.client("s3").list_buckets()
                break
            except Exception:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield endpoint
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def s3_output(s3_server, request) -> str:
    """A fresh bucket; the output is a prefix in it."""
    import re
    import uuid

    import boto3

    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    bucket = f"{name}-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/tables"
