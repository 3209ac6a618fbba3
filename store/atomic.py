"""Writes a reader never sees half done, on a local disk and on an object store.

Local: written aside under the output's staging folder, flushed to disk, renamed into place,
the folder flushed. Object store: one PUT, which the store makes visible whole or not at all
(there is no rename to lean on, and none is needed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from store.layout import Location, scratch

T = TypeVar("T")


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parquet_bytes(table: pa.Table) -> pa.Buffer:
    """One zstd Parquet file, in memory."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", write_statistics=True)
    return sink.getvalue()


def write_bytes(loc: Location, rel: str, data: bytes | pa.Buffer) -> str:
    """Put ``data`` at ``rel`` under the output, atomically and durably; returns its path."""
    dst = loc.path(rel)
    if not loc.local:
        with loc.fs.open_output_stream(dst) as fh:
            fh.write(data)
        return dst
    tmp = loc.path(scratch(os.path.basename(rel)))
    os.makedirs(os.path.dirname(tmp), exist_ok=True)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        with open(tmp, "wb") as fh:
            fh.write(memoryview(data))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(os.path.dirname(dst))
    return dst


def write_parquet(loc: Location, rel: str, table: pa.Table) -> str:
    return write_bytes(loc, rel, parquet_bytes(table))


def write_text(loc: Location, rel: str, text: str) -> str:
    return write_bytes(loc, rel, text.encode("utf-8"))


def read_bytes(loc: Location, path: str) -> bytes:
    with loc.fs.open_input_stream(path) as fh:
        return fh.read()


def exists(loc: Location, path: str) -> bool:
    return loc.fs.get_file_info(path).type != pafs.FileType.NotFound


def move(loc: Location, src: str, dst: str) -> None:
    """Move a file into place. Local: a rename, flushed. Object store: a server-side copy (the
    object appears whole), then the source is deleted; repeating it after a crash is safe."""
    if loc.local:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.replace(src, dst)
        _fsync_dir(os.path.dirname(dst))
        return
    loc.fs.copy_file(src, dst)
    loc.fs.delete_file(src)


def remove_tree(loc: Location, path: str) -> None:
    with contextlib.suppress(OSError):
        loc.fs.delete_dir(path)


def listing(loc: Location, path: str) -> list[pafs.FileInfo]:
    """The entries directly under ``path`` (none if it does not exist), by name."""
    selector = pafs.FileSelector(path, allow_not_found=True, recursive=False)
    return sorted(loc.fs.get_file_info(selector), key=lambda i: i.base_name)


_END = object()


def one_ahead(items: Iterable[T]) -> Iterator[T]:
    """The items of ``items``, the next one made in a thread while the caller works on this
    one (reading the next part while this one is encoded: both release the GIL)."""
    it = iter(items)
    with ThreadPoolExecutor(1, thread_name_prefix="one-ahead") as pool:
        ahead = pool.submit(next, it, _END)
        while (item := ahead.result()) is not _END:
            ahead = pool.submit(next, it, _END)
            yield item


def write_parquet_stream(loc: Location, rel: str, schema: pa.Schema, tables) -> str:  # noqa: ANN001
    """Write the tables of an iterable one after the other as one Parquet file, atomically
    (local: aside, then renamed; object store: a multipart upload, visible when complete), in
    memory bounded by two of them (the next is read while this one is written)."""
    dst = loc.path(rel)
    tables = one_ahead(tables)
    if not loc.local:
        with loc.fs.open_output_stream(dst) as fh, pq.ParquetWriter(
                fh, schema, compression="zstd") as writer:
            for table in tables:
                writer.write_table(table.cast(schema))
        return dst
    tmp = loc.path(scratch(os.path.basename(rel)))
    os.makedirs(os.path.dirname(tmp), exist_ok=True)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for table in tables:
                writer.write_table(table.cast(schema))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(os.path.dirname(dst))
    return dst
