"""The object-store lock: a lease one run holds at a time, taken over once its holder died."""

from __future__ import annotations

import json
import threading
import time

import boto3
import pytest

from store import LeaseLost, OutputNotWritable, location, output_lock
from store.lock import _Lease, check_held


def lease_key(output: str) -> tuple[str, str]:
    bucket, _, prefix = output.removeprefix("s3://").partition("/")
    return bucket, f"{prefix}/_lease.json"


def test_a_second_run_waits_for_the_lease_and_gets_it_when_released(s3_output) -> None:
    order: list[str] = []
    held = threading.Event()

    def first() -> None:
        with output_lock(s3_output):
            held.set()
            order.append("first in")
            time.sleep(1.5)
            order.append("first out")

    t = threading.Thread(target=first)
    t.start()
    held.wait(10)
    with output_lock(s3_output, poll_seconds=0.2):
        order.append("second in")
    t.join()
    assert order == ["first in", "first out", "second in"]
    bucket, key = lease_key(s3_output)
    assert boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"] == 0


def test_the_lease_of_a_dead_run_is_taken_over_once_it_expires(s3_output, monkeypatch) -> None:
    dead = _Lease(location(s3_output), seconds=1.0)
    assert dead.try_acquire()  # and never renewed: its run died
    monkeypatch.setenv("MTCLEAN_LEASE_SECONDS", "5")
    started = time.monotonic()
    with output_lock(s3_output, poll_seconds=0.2):
        waited = time.monotonic() - started
        bucket, key = lease_key(s3_output)
        lease = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
        assert lease["owner"] != dead.owner and lease["seconds"] == 5
    assert 0.5 < waited < 5


def test_a_run_whose_lease_was_taken_stops_publishing(s3_output, monkeypatch) -> None:
    monkeypatch.setenv("MTCLEAN_LEASE_SECONDS", "0.6")
    with output_lock(s3_output):
        check_held(s3_output)  # held: no error
        bucket, key = lease_key(s3_output)
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b'{"owner": "other"}')
        time.sleep(0.8)  # the next renewal finds the lease changed under it
        with pytest.raises(LeaseLost, match="another run took it over"):
            check_held(s3_output)


def test_a_lock_path_that_is_a_folder_fails_naming_it(tmp_path) -> None:
    """Issue 24, finding 5: a bare IsADirectoryError."""
    (tmp_path / ".lock").mkdir()
    with pytest.raises(OutputNotWritable, match=rf"^the lock file {tmp_path}/.lock is a "
                       "directory, not a file"), output_lock(str(tmp_path)):
        pass
