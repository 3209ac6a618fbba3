"""Where an output's files are: a local folder or an S3 prefix, and the paths inside it.

Only the store builds a path of a table. An output is given as a folder (``output``) or an S3
URI (``s3://bucket/prefix``); S3 is reached through pyarrow's filesystem, with the endpoint and
credentials the standard AWS way (``AWS_ENDPOINT_URL`` for an S3-compatible store,
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``): none of them is ever
part of the output's name, so none reaches a log, an artifact or the runs table.

    <output>/<table>/run_id=<run_id>/part-<batch>.parquet    the per-run tables
    <output>/entity_index/index.parquet                       recomputed after each run
    <output>/reports/<run_id>.html                            one report per run
    <output>/_staging/<run_id>/<batch>/                       batches written, not yet published
"""

from __future__ import annotations

import functools
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

STAGING = "_staging"
READY = "_READY"
# one empty file per run the recovery finished: what such a run's orphaned workers stage later
# is never published (store/commit.py)
FENCES = "_fenced"
LOCK = ".lock"  # a local output's lock file (flock)
LEASE = "_lease.json"  # an object store's lock (a lease with an expiry)
ENTITY_INDEX = "entity_index/index.parquet"
# tables that are one file recomputed after each run, not a partition per run; every other
# table of schemas.tables.TABLES is per run (a table added there is per run unless named here)
SINGLE_FILE = {"entity_index": ENTITY_INDEX}
EMPTY_PART = "part-empty.parquet"  # a run's partition of a table it wrote no rows to


class OutputNotWritable(RuntimeError):
    pass


@dataclass(frozen=True)
class Location:
    """An output: the filesystem it is on and its root there."""

    uri: str  # as the user gave it (a folder, or s3://bucket/prefix): shown, never a secret
    fs: pafs.FileSystem
    root: str  # the root in ``fs`` (an absolute folder, or bucket/prefix)

    @property
    def local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        """The path in ``fs`` of a file or folder under the output."""
        return "/".join([self.root.rstrip("/"), *parts])

    def show(self, *parts: str) -> str:
        """The path as a user writes it: a local path, or an s3:// URI."""
        return self.path(*parts) if self.local else f"s3://{self.path(*parts)}"

    def __str__(self) -> str:
        return self.uri


def is_remote(output: str | os.PathLike[str]) -> bool:
    return str(output).startswith("s3://")


@functools.lru_cache(maxsize=32)
def _location(output: str) -> Location:
    if is_remote(output):
        fs, root = pafs.FileSystem.from_uri(output)
        return Location(output, fs, root.rstrip("/"))
    return Location(output, pafs.LocalFileSystem(), os.path.abspath(output))


def location(output: str | os.PathLike[str] | Location) -> Location:
    """The output's location (cached: one S3 client per output and process)."""
    if isinstance(output, Location):
        return output
    return _location(str(output))


def part(table: str, run_id: str, key: str) -> str:
    """A batch's file of a per-run table, relative to the output."""
    return f"{table}/run_id={run_id}/part-{key}.parquet"


def run_partition(table: str, run_id: str) -> str:
    return f"{table}/run_id={run_id}"


def staging(run_id: str, key: str | None = None) -> str:
    return f"{STAGING}/{run_id}" if key is None else f"{STAGING}/{run_id}/{key}"


def report(run_id: str) -> str:
    return f"reports/{run_id}.html"


def scratch(name: str) -> str:
    """A private name under the staging folder for a file being written (local outputs)."""
    return f"{STAGING}/.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{name}"


def check_output(output: str | os.PathLike[str]) -> Path | str:
    """Create the output (a folder) or check it can be written (an S3 prefix), or fail at once
    with what to do about it. Returns the output as the flow passes it on."""
    if is_remote(output):
        return _check_remote(str(output))
    out = Path(output)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".probe-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise OutputNotWritable(
            f"output {str(out)!r} cannot be written ({exc.strerror or exc}); choose another "
            f"folder with --output or fix its permissions"
        ) from exc
    return out


def _check_remote(output: str) -> str:
    if "@" in output.split("/", 3)[2] or "?" in output:
        # the output's name goes to logs, the runs table and Prefect: it must hold no secret
        raise OutputNotWritable(
            "give an S3 output as s3://bucket/prefix; credentials and the endpoint come from the "
            "AWS_* environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
            "AWS_ENDPOINT_URL), never from the output's name")
    try:
        loc = location(output)
        bucket = loc.root.split("/", 1)[0]
        if loc.fs.get_file_info(bucket).type == pafs.FileType.NotFound:
            raise OutputNotWritable(
                f"output {output!r}: bucket {bucket!r} does not exist; create it or choose "
                "another with --output (the endpoint comes from AWS_ENDPOINT_URL)")
        probe = loc.path(f".probe-{uuid.uuid4().hex}")
        with loc.fs.open_output_stream(probe) as fh:
            fh.write(b"ok")
        loc.fs.delete_file(probe)
    except OSError as exc:
        raise OutputNotWritable(
            f"output {output!r} cannot be written ({exc}); check the AWS_* settings "
            "(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION) "
            "or choose another output with --output") from exc
    return output
