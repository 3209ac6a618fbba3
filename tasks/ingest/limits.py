"""How much one input may hold (``Limits``) and reading within it: a file's (decompressed)
bytes and lines read incrementally, never held whole; more is a ``too_large`` reject."""

from __future__ import annotations

import gzip
import io
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from tasks.ingest.documents import BadInput, Reject, sha256_hex
from tasks.ingest.sources import file_path

MAX_DOCUMENT_BYTES = 64 << 20
MAX_FILE_BYTES = 8 << 30


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one input may hold. More becomes a ``too_large`` reject, never a failed run:
    memory is bounded by ``document_bytes``, not by the size of a file (or what it expands to)."""

    document_bytes: int = MAX_DOCUMENT_BYTES  # a text file, JSONL line, CSV row, Parquet value
    file_bytes: int = MAX_FILE_BYTES  # uncompressed bytes of one file

    def __post_init__(self) -> None:
        if self.document_bytes < 1 or self.file_bytes < 1:
            raise ValueError("max_document_bytes and max_file_bytes must be at least 1")


class _Input(io.RawIOBase):
    """The (decompressed) bytes of one file, read incrementally: never the whole file at once.

    Reading past ``limits.file_bytes`` raises ``too_large``; a damaged gzip stream raises
    ``corrupt_file`` where it is found (the rows before it are kept)."""

    def __init__(self, path: str, gz: bool, limits: Limits) -> None:
        super().__init__()
        self.path, self.gz, self.limits = path, gz, limits
        self.total = 0
        self._raw = open(file_path(path), "rb")  # noqa: SIM115 -- closed by close()
        self._stream: io.BufferedIOBase = gzip.GzipFile(fileobj=self._raw) if gz else self._raw

    def __enter__(self) -> _Input:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._raw.close()
        super().close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # for io.TextIOWrapper
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _count(self, data: bytes) -> bytes:
        self.total += len(data)
        if self.total > self.limits.file_bytes:
            what = "expands to" if self.gz else "holds"
            raise BadInput("too_large", f"{self.path} {what} more than {self.limits.file_bytes:,} "
                           f"bytes (max_file_bytes); split it or raise the limit")
        return data

    def read(self, size: int = -1) -> bytes:
        try:
            return self._count(self._stream.read(size))
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise BadInput("corrupt_file", f"{self.path} is not a valid gzip file: {exc}") from exc

    def readline(self, size: int = -1) -> bytes:
        try:
            return self._count(self._stream.readline(size))
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise BadInput("corrupt_file", f"{self.path} is not a valid gzip file: {exc}") from exc


def _head(path: str, gz: bool, limits: Limits, size: int = 4 << 20) -> bytes:
    """The first ``size`` bytes (decompressed): enough to sniff a BOM, magic or an encoding."""
    with _Input(path, gz, limits) as stream:
        return stream.read(size)


def _too_large(path: str, source: str, size: str, limits: Limits) -> Reject:
    """A reject for an input over the document limit; its id is stable while the file is
    unchanged (the input itself is never read whole, so it cannot be hashed)."""
    st = os.stat(file_path(path))
    doc_id = sha256_hex(f"too_large:{source}:{st.st_size}:{st.st_mtime_ns}")
    return Reject(doc_id, source, "too_large",
                  f"{source}: {size} is larger than {limits.document_bytes:,} bytes "
                  f"(max_document_bytes); it was not read")


def _lines(stream: _Input | _WideLines, limit: int) -> Iterator[bytes | None]:
    """Lines split as ``bytes.splitlines`` does, holding at most ``limit`` bytes at a time;
    ``None`` stands for a line longer than ``limit`` (skipped to its end, never held)."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while True:
                rest = stream.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
            continue
        yield from line.splitlines() or [b""]


class _WideLines:
    """Lines of a UTF-16/32 file as UTF-8 bytes (such lines can only be split once decoded)."""

    def __init__(self, stream: _Input, encoding: str) -> None:
        self.path = stream.path
        self._text = io.TextIOWrapper(io.BufferedReader(stream), encoding=encoding, newline="")

    def readline(self, size: int) -> bytes:
        try:
            return self._text.readline(size).encode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise BadInput("undecodable", f"{self.path} is not valid {self._text.encoding}: {exc}"
                           ) from exc


class _CsvLines:
    """Text lines for ``csv``, each at most ``limit`` bytes: a longer row is ``too_large``."""

    def __init__(self, stream: _Input, encoding: str, limit: int) -> None:
        self.path, self.limit, self.n = stream.path, limit, 0
        self._text = io.TextIOWrapper(io.BufferedReader(stream), encoding=encoding, newline="")

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        try:
            line = self._text.readline(self.limit + 1)
        except UnicodeDecodeError as exc:
            raise BadInput("undecodable", f"{self.path} is not valid {self._text.encoding} "
                           f"after line {self.n}: {exc}") from exc
        if not line:
            raise StopIteration
        self.n += 1
        if len(line) > self.limit and not line.endswith(("\n", "\r")):
            raise BadInput("too_large", f"{self.path}: line {self.n} is longer than "
                           f"{self.limit:,} characters (max_document_bytes)")
        return line
