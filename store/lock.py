"""One run at a time on an output.

Local folder: an exclusive ``flock`` on ``<output>/.lock``; the kernel releases it when the
holder dies. Object store (no flock): a lease, the object ``<prefix>/_lease.json``, created
only if absent (a conditional PUT, ``If-None-Match: *``), renewed by its holder every third
of its term and replaced only by the ETag it was read with (``If-Match``), so of two runs that
race for it one wins. A run that dies stops renewing: once the lease expires the next run takes
it over and recovers what the dead run left. A holder whose lease was taken from it (it hung
longer than the term) stops publishing (``LeaseLost``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator

from store.layout import LEASE, LOCK, Location, OutputNotWritable, location

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0  # MTCLEAN_LEASE_SECONDS overrides it (tests use a short one)


class LeaseLost(RuntimeError):
    pass


@contextlib.contextmanager
def output_lock(output: str | os.PathLike[str] | Location,
                poll_seconds: float = 2.0) -> Iterator[None]:
    """Exclusive hold on an output for the length of a run (released if we die)."""
    loc = location(output)
    if loc.local:
        with _flock(loc, poll_seconds):
            yield
    else:
        seconds = float(os.environ.get("MTCLEAN_LEASE_SECONDS") or LEASE_SECONDS)
        with _lease(loc, seconds, min(poll_seconds, 1.0)):
            yield


@contextlib.contextmanager
def _flock(loc: Location, poll_seconds: float) -> Iterator[None]:
    path = loc.path(LOCK)
    try:
        fh = open(path, "a+")  # noqa: SIM115 -- closed below
    except OSError as exc:
        what = ("is a directory, not a file; remove it, a run creates it"
                if isinstance(exc, IsADirectoryError) else
                f"cannot be opened ({exc.strerror or exc}); fix its permissions or remove it")
        raise OutputNotWritable(f"the lock file {path} {what}") from exc
    try:
        waited = 0.0
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if waited == 0 or int(waited) % 30 == 0:
                    log.info("waiting for another run that is writing to %s", loc)
                time.sleep(poll_seconds)
                waited += poll_seconds
        yield
    finally:
        fh.close()


# leases this process holds, by output: checked before each publish
_held: dict[str, _Lease] = {}


def check_held(output: str | os.PathLike[str] | Location) -> None:
    """Raise ``LeaseLost`` if this process's lease on an object-store output was taken over."""
    lease = _held.get(location(output).uri)
    if lease is not None and lease.lost:
        raise LeaseLost(f"the lease on {lease.loc} expired and another run took it over: this "
                        "run stops publishing (its committed batches are recovered by that run)")


def _s3_client():  # noqa: ANN202
    import boto3  # only an object-store output needs it; endpoint and keys from AWS_* variables

    return boto3.client("s3")


class _Lease:
    def __init__(self, loc: Location, seconds: float) -> None:
        self.loc = loc
        self.seconds = seconds
        self.bucket, _, prefix = loc.root.partition("/")
        self.key = f"{prefix}/{LEASE}" if prefix else LEASE
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.client = _s3_client()
        self.etag: str | None = None
        self.lost = False
        self._stop = threading.Event()

    def _body(self) -> bytes:
        return json.dumps({"owner": self.owner, "expires_at": time.time() + self.seconds,
                           "seconds": self.seconds}).encode()

    def try_acquire(self) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.etag = self.client.put_object(Bucket=self.bucket, Key=self.key,
                                               Body=self._body(), IfNoneMatch="*")["ETag"]
            return True
        except ClientError as exc:
            if _code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
        try:
            held = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return False  # released meanwhile: try again at once
            raise
        lease = json.loads(held["Body"].read())
        if lease["expires_at"] > time.time():
            return False
        try:  # expired: its holder died; take it over unless another run did first
            self.etag = self.client.put_object(Bucket=self.bucket, Key=self.key,
                                               Body=self._body(), IfMatch=held["ETag"])["ETag"]
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"):
                return False
            raise
        log.warning("took over the expired lease of %s on %s (that run died; its output is "
                    "recovered now)", lease["owner"], self.loc)
        return True

    def renew_until_stopped(self) -> None:
        from botocore.exceptions import ClientError

        while not self._stop.wait(self.seconds / 3):
            try:
                self.etag = self.client.put_object(Bucket=self.bucket, Key=self.key,
                                                   Body=self._body(),
                                                   IfMatch=self.etag)["ETag"]
            except ClientError as exc:
                if _code(exc) in ("PreconditionFailed", "NoSuchKey"):
                    self.lost = True
                    log.error("lost the lease on %s: another run took it over", self.loc)
                    return
                log.warning("could not renew the lease on %s: %s", self.loc, _code(exc))
            except Exception as exc:  # noqa: BLE001 (a network blip: try again next time)
                log.warning("could not renew the lease on %s: %s", self.loc, type(exc).__name__)

    def release(self, renewer: threading.Thread | None = None) -> None:
        self._stop.set()
        if renewer is not None:  # a renewal in flight would change the ETag under the delete
            renewer.join(timeout=30)
        if self.lost or self.etag is None:
            return
        with contextlib.suppress(Exception):
            self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self.etag)


def _code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


@contextlib.contextmanager
def _lease(loc: Location, seconds: float, poll_seconds: float) -> Iterator[None]:
    lease = _Lease(loc, seconds)
    waited = 0.0
    while not lease.try_acquire():
        if waited == 0 or int(waited) % 30 == 0:
            log.info("waiting for another run that holds the lease on %s", loc)
        time.sleep(poll_seconds)
        waited += poll_seconds
    renew = threading.Thread(target=lease.renew_until_stopped, daemon=True,
                             name="mtclean-lease")
    renew.start()
    _held[loc.uri] = lease
    try:
        yield
    finally:
        _held.pop(loc.uri, None)
        lease.release(renew)
