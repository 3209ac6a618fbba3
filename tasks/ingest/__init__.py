"""Find sources, read and decode them: documents (doc_id, source, raw_text, ...) or rejects.

Pure functions first, thin Prefect tasks at the end. Every input document becomes exactly one
``Document`` or one ``Reject``: nothing is dropped silently.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import glob
import gzip
import hashlib
import io
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ""})
TABLE_SUFFIXES = frozenset({".jsonl", ".ndjson", ".csv", ".tsv", ".parquet"})
SUPPORTED = sorted(TEXT_SUFFIXES - {""} | TABLE_SUFFIXES) + ["(any of these).gz"]

_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"\xff\xd8\xff": "a JPEG image",
    b"%PDF": "a PDF file",
    b"PK\x03\x04": "a ZIP archive",
    b"\x1f\x8b": "gzip data (without a .gz name)",
    b"\x7fELF": "an executable",
    b"PAR1": "a Parquet file (without a .parquet name)",
}
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Document:
    doc_id: str
    source: str
    raw_text: str
    encoding: str
    encoding_detected: bool
    external_id: str | None = None
    metadata: str | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    doc_id: str
    source: str
    reason: str
    detail: str
    raw_text: str | None = None


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


class BadInput(Exception):
    """An input that cannot become a document; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def sha256_hex(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


_BYTE_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def source_name(path: str) -> str:
    """The name a file's documents and rejects are recorded under: its path, or, when the path
    is not UTF-8 (a Latin-1 name from an old share or archive), the path with each byte that is
    not as ``\\xNN``. Lossless: ``file_path`` gives the path back (a backslash of an escaped
    name is ``\\x5c``, and a name holding a literal ``\\xNN`` is escaped too)."""
    if not _SURROGATES.search(path) and not _BYTE_ESCAPE.search(path):
        return path
    return os.fsencode(path).replace(b"\\", b"\\x5c").decode("utf-8", "backslashreplace")


def file_path(name: str) -> str:
    """The path of the file recorded as ``name`` (``source_name``'s inverse)."""
    if not _BYTE_ESCAPE.search(name):
        return name
    parts = _BYTE_ESCAPE.split(name)  # text, hex digits, text, ...
    return os.fsdecode(b"".join(bytes([int(p, 16)]) if i % 2 else p.encode()
                                for i, p in enumerate(parts)))


def real_path(path: str) -> str:
    """The path a file is known by: absolute, with every symlink and ``..`` resolved, so that
    ``x/../src/a.txt``, ``src/a.txt`` run from elsewhere, and a link to ``src`` or to ``a.txt``
    all name one file. A link that leads nowhere (dangling, a loop) keeps its own name, in
    its folder's resolved path: it is what there is to name."""
    try:
        return os.path.realpath(path, strict=True)
    except OSError:
        folder, name = os.path.split(path)
        return os.path.join(os.path.realpath(folder or os.curdir), name)


_ROW_SUFFIX = re.compile(r"(.*)#\d+-?", re.DOTALL)  # "f.jsonl#3", "f.jsonl#7-" (rows 7 on)


def resolved_source(name: str, file: str | None = None, folder: str | None = None) -> str:
    """A source as recorded, named as this version names it: the ``real_path`` of its file
    (as ``source_name``), then its row. Earlier versions recorded a source as typed, often
    relative to the folder the run was started in (``data/raw/feed.jsonl#3``): ``folder`` is
    that folder when known (else the current one), ``file`` the source's file when known (a
    sighting's ``path``); else a name ending in ``#N`` is row N of a file unless a file of
    that very name exists."""
    if file is None or not name.startswith(file):
        file = name
        row = _ROW_SUFFIX.fullmatch(name)
        if row is not None and not os.path.lexists(_joined(folder, name)):
            file = row[1]
    return source_name(real_path(_joined(folder, file))) + name[len(file):]


def _joined(folder: str | None, name: str) -> str:
    path = file_path(name)
    return path if folder is None else os.path.join(file_path(folder), path)


# ---------------------------------------------------------------------------------------------
# finding sources


def _walk(root: Path, exclude: str | None = None, excluded: list[str] | None = None
          ) -> Iterator[Path]:
    """Files under ``root``, following directory symlinks once (a symlink loop is cut).

    A directory that cannot be listed is yielded itself, so that reading it gives an
    ``unreadable`` reject instead of its files vanishing without a word. The directory whose
    real path is ``exclude`` (the output) is not entered; it is noted in ``excluded``."""
    seen: set[str] = set()
    failed: list[OSError] = []
    hidden = 0
    for dirpath, dirnames, filenames in os.walk(root, onerror=failed.append, followlinks=True):
        yield from _failed_dirs(failed)
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            log.warning("skipping %s: a symlink loop leads back to %s", dirpath, real)
            continue
        seen.add(real)
        if real == exclude:
            dirnames[:] = []
            if excluded is not None:
                excluded.append(dirpath)
            continue
        hidden += sum(d.startswith((".", "_")) for d in dirnames)
        hidden += sum(f.startswith((".", "_")) for f in filenames)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for name in sorted(filenames):
            if not name.startswith((".", "_")):
                yield Path(dirpath) / name
    yield from _failed_dirs(failed)
    if hidden:
        log.info("%s: skipped %d hidden entries (names starting with '.' or '_')", root, hidden)


def _failed_dirs(failed: list[OSError]) -> Iterator[Path]:
    while failed:
        exc = failed.pop(0)
        log.warning("cannot list %s: %s", exc.filename, exc.strerror or exc)
        if exc.filename:
            yield Path(os.fsdecode(exc.filename))


def find_sources(source: str | os.PathLike[str], exclude: str | os.PathLike[str] | None = None
                 ) -> list[str]:
    """Files named by ``source``: a file, a directory (recursively) or a glob pattern, each by
    its ``real_path`` and once (a file also reached through a symlink is one file).

    Nothing under ``exclude`` (the output folder, when it lies inside the source) is a source:
    a run must never read back its own tables and reports. One warning says so."""
    text = file_path(os.fspath(source))  # a name that is not UTF-8 may come escaped
    path = Path(text)
    out = None if exclude is None else os.path.realpath(exclude)
    excluded: list[str] = []

    def outside(p: str) -> bool:
        if out is not None and (os.path.realpath(p) + os.sep).startswith(out + os.sep):
            excluded.append(p)
            return False
        return True

    if path.is_dir():
        files = [str(p) for p in _walk(path, out, excluded) if outside(str(p))]
    elif path.exists() or path.is_symlink():
        files = [str(path)] if outside(text) else []
    elif glob.has_magic(text):
        found: dict[str, None] = {}  # ordered set: "data/**" matches a directory and its files
        for match in sorted(glob.glob(text, recursive=True)):
            p = Path(match)
            if p.is_dir():
                found.update((str(f), None) for f in _walk(p, out, excluded) if outside(str(f)))
            elif outside(match):
                found[match] = None
        if not found and not excluded:
            raise FileNotFoundError(f"source pattern {text!r} matches no file")
        files = list(found)
    else:
        raise FileNotFoundError(
            f"source {text!r} does not exist: give a file, a directory or a glob such as "
            "'data/**/*.jsonl'")
    if excluded:
        log.warning("the output folder %s is inside the source %s: its tables and reports are "
                    "not read as input", exclude, text)
    real = list(dict.fromkeys(real_path(f) for f in files))
    if len(real) < len(files):
        log.info("%s: %d files are reached twice (through a symlink as well): each is read once",
                 text, len(files) - len(real))
    return real


# ---------------------------------------------------------------------------------------------
# decoding


def _check_text(text: str, what: str) -> str:
    if not text.strip():
        raise BadInput("empty", f"{what} is empty or only white space")
    controls = len(_CONTROL.findall(text[:65536]))
    if "\x00" in text[:65536] or controls > max(8, len(text[:65536]) // 100):
        raise BadInput("binary", f"{what} holds binary data (NUL or control bytes), not text")
    return text


def decode(data: bytes, what: str = "the file") -> tuple[str, str, bool]:
    """Decode bytes to text: UTF-8 (with or without BOM), a BOM-marked UTF-16/32, else the
    encoding charset-normalizer detects. Returns (text, encoding, detected)."""
    if not data.strip():
        raise BadInput("empty", f"{what} is empty or only white space")
    for magic, kind in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise BadInput("binary", f"{what} is {kind}, not text")
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
                     (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
                     (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return _check_text(data.decode(enc), what), enc, enc != "utf-8-sig"
            except UnicodeDecodeError:
                break
    try:
        return _check_text(data.decode("utf-8"), what), "utf-8", False
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:65536]:
        raise BadInput("binary", f"{what} holds binary data (NUL bytes), not text")
    encoding = _detect_encoding(data)
    if encoding is None:
        raise BadInput("undecodable", f"{what} is not UTF-8 and no text encoding fits its bytes")
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise BadInput("undecodable", f"{what} is not UTF-8 and not {encoding}: {exc}") from exc
    return _check_text(text, what), encoding, True


def _detect_encoding(data: bytes) -> str | None:
    """The encoding charset-normalizer finds, preferring Windows-1252 when it fits as well.

    On short Western text charset-normalizer often ranks cp1250 or cp852 first with the same
    score ("crème" read as "crčme"); the corpus is English, where cp1252/Latin-1 is by far
    the likeliest legacy encoding."""
    sample = data[: 4 << 20]
    best = charset_normalizer.from_bytes(sample).best()
    western = charset_normalizer.from_bytes(sample, cp_isolation=["cp1252"]).best()
    if western is not None and (
        best is None
        or (western.chaos <= best.chaos + 0.1 and western.coherence >= best.coherence - 0.1)
    ):
        return western.encoding
    return None if best is None else best.encoding


def _storable(text: str) -> tuple[str, bool]:
    """Lone surrogates (from JSON escapes) cannot be stored as UTF-8: they become U+FFFD."""
    if _SURROGATES.search(text):
        return _SURROGATES.sub("\ufffd", text), True
    return text, False


def _document(text: str, source: str, encoding: str, detected: bool, external_id: object = None,
              metadata: dict | None = None) -> Document | Reject:
    text, replaced = _storable(text)
    if replaced:
        encoding += "+replaced-surrogates"
    try:
        _check_text(text, "the document")
    except BadInput as bad:
        return Reject(sha256_hex(text), source, bad.reason, bad.detail, text or None)
    meta = json.dumps(metadata, ensure_ascii=False, default=str, sort_keys=True) if metadata else None
    if meta is not None:
        meta = _storable(meta)[0]
    if external_id is None or isinstance(external_id, str):
        ext = external_id
    else:  # a number keeps its digits; a list or object its JSON
        ext = json.dumps(external_id, ensure_ascii=False, default=str)
    ext = None if ext is None else _storable(ext)[0]
    return Document(sha256_hex(text), source, text, encoding, detected, ext, meta)


# ---------------------------------------------------------------------------------------------
# reading each format



_UTF8_BOM = b"\xef\xbb\xbf"
_CSV_FIELD_LIMIT = 2**31 - 1  # the default (128 KiB) would reject a long document as corrupt
_NOT_A_FILE = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _format_of(path: str) -> tuple[str, bool]:
    name = path.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    return Path(name).suffix, gz


def _check_regular(path: str) -> None:
    """Only regular files are read: opening a FIFO would block the run forever."""
    mode = os.stat(file_path(path)).st_mode
    if not stat.S_ISREG(mode):
        kind = next((k for test, k in _NOT_A_FILE if test(mode)), "not a regular file")
        raise BadInput("unreadable", f"{path} cannot be read: it is {kind}, not a regular file")


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


def _wide_encoding(head: bytes) -> tuple[str, bool] | None:
    for bom, enc in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                     (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if head.startswith(bom):
            return enc, True
    return None


def _read_jsonl(path: str, gz: bool, text_column: str, limits: Limits
                ) -> Iterator[Document | Reject]:
    wide = _wide_encoding(_head(path, gz, limits, 4))
    fallback: list[str | None] = []  # the encoding of the lines that are not UTF-8, found once
    with _Input(path, gz, limits) as stream:
        lines = _lines(stream if wide is None else _WideLines(stream, wide[0]),
                       limits.document_bytes)
        for n, line in enumerate(lines, start=1):
            source = f"{path}#{n}"
            if line is None:
                yield _too_large(path, source, f"line {n}", limits)
                continue
            if not line.strip():
                continue  # blank lines separate nothing in JSONL
            try:
                if not fallback and not _is_utf8(line.removeprefix(_UTF8_BOM)):
                    fallback.append(_non_utf8_encoding(path, gz, limits))
                text_line, encoding, detected = _decode_line(line, n, fallback)
                record = json.loads(text_line)
            except BadInput as bad:
                if bad.reason == "too_large":  # the file limit, seen while scanning
                    raise
                yield Reject(sha256_hex(line), source, bad.reason, bad.detail)
                continue
            except (ValueError, RecursionError) as exc:  # JSONDecodeError, too many digits, nesting
                why = (f"{exc.msg} (column {exc.colno})" if isinstance(exc, json.JSONDecodeError)
                       else str(exc) or type(exc).__name__)
                yield Reject(sha256_hex(line), source, "malformed_json",
                             f"line {n} is not valid JSON: {why}",
                             _storable(line.decode("utf-8", "replace"))[0])
                continue
            if wide is not None:
                encoding, detected = wide
            if not isinstance(record, dict):
                yield Reject(sha256_hex(line), source, "malformed_json",
                             f"line {n} is a JSON {type(record).__name__}, not an object with a "
                             f"{text_column!r} field",
                             _storable(text_line)[0])
                continue
            yield _record(record, source, text_column, encoding, detected, sha256_hex(line))


def _non_utf8_encoding(path: str, gz: bool, limits: Limits, sample: int = 4 << 20) -> str | None:
    """The encoding of a file's non-UTF-8 lines, detected over (the first 4 MiB of) them all:
    one line alone is too short for charset detection to be trusted. A second pass over the
    file, made only when such a line exists."""
    found: list[bytes] = []
    size = 0
    with _Input(path, gz, limits) as stream:
        for line in _lines(stream, limits.document_bytes):
            if line is not None and not _is_utf8(line):
                found.append(line)
                size += len(line) + 1
                if size >= sample:
                    break
    return _detect_encoding(b"\n".join(found)) if found else None


def _decode_line(line: bytes, n: int, fallback: list[str | None]) -> tuple[str, str, bool]:
    """One JSONL line: UTF-8, else the encoding detected once over the non-UTF-8 lines."""
    what = f"line {n}"
    encoding = "utf-8"
    if n == 1 and line.startswith(_UTF8_BOM):
        line, encoding = line[len(_UTF8_BOM):], "utf-8-sig"
    try:
        return _check_text(line.decode("utf-8"), what), encoding, False
    except UnicodeDecodeError:
        pass
    if b"\x00" in line:
        raise BadInput("binary", f"{what} holds binary data (NUL bytes), not text")
    encoding = fallback[0] if fallback else None
    if encoding is None:
        raise BadInput("undecodable", f"{what} is not UTF-8 and no text encoding fits its bytes")
    try:
        return _check_text(line.decode(encoding), what), encoding, True
    except UnicodeDecodeError as exc:
        raise BadInput("undecodable", f"{what} is not UTF-8 and not {encoding}: {exc}") from exc


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _record(record: dict, source: str, text_column: str, encoding: str, detected: bool,
            fallback_id: str) -> Document | Reject:
    if text_column not in record or record[text_column] is None:
        fields = ", ".join(sorted(map(str, record))) or "none"
        return Reject(fallback_id, source, "missing_text",
                      f"no {text_column!r} field (fields: {fields})",
                      _storable(json.dumps(record, ensure_ascii=False, default=str))[0])
    text = record[text_column]
    if not isinstance(text, str):
        return Reject(fallback_id, source, "bad_text_type",
                      f"field {text_column!r} is a {type(text).__name__}, not a string",
                      _storable(json.dumps(record, ensure_ascii=False, default=str))[0])
    meta = {k: v for k, v in record.items() if k not in (text_column, "id")}
    return _document(text, source, encoding, detected, record.get("id"), meta or None)


def _csv_encoding(head: bytes, path: str) -> tuple[str, bool]:
    """The encoding of a CSV file, from its first 4 MiB: a BOM, UTF-8, else detected."""
    if not head.strip():
        raise BadInput("empty", f"{path} is empty or only white space")
    for magic, kind in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise BadInput("binary", f"{path} is {kind}, not text")
    for bom, enc in ((_UTF8_BOM, "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
                     (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
                     (b"\xfe\xff", "utf-16")):
        if head.startswith(bom):
            return enc, enc != "utf-8-sig"
    try:  # a multi-byte character may be cut at the end of the sample
        _check_text(codecs.getincrementaldecoder("utf-8")().decode(head, final=False), path)
        return "utf-8", False
    except UnicodeDecodeError:
        pass
    _, encoding, detected = decode(head, path)
    return encoding, detected


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


def _read_csv(path: str, gz: bool, text_column: str, delimiter: str, limits: Limits
              ) -> Iterator[Document | Reject]:
    encoding, detected = _csv_encoding(_head(path, gz, limits), path)
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    with _Input(path, gz, limits) as stream:
        reader = csv.DictReader(_CsvLines(stream, encoding, limits.document_bytes),
                                delimiter=delimiter)
        try:
            columns = reader.fieldnames or []
            if text_column not in columns:
                raise BadInput("missing_column",
                               f"{path} has no {text_column!r} column "
                               f"(columns: {', '.join(columns) or 'none'}); choose one with "
                               "text_column")
            for n, row in enumerate(reader, start=1):
                source = f"{path}#{n}"
                if None in row:  # more fields than the header names
                    row = {k: v for k, v in row.items() if k is not None}
                text = row.get(text_column)
                if isinstance(text, str) and len(text) > limits.document_bytes:
                    yield _too_large(path, source, f"row {n}", limits)
                    continue
                yield _record(row, source, text_column, encoding, detected,
                              sha256_hex(f"{path}#{n}:{row!r}"))
        except csv.Error as exc:
            raise BadInput("corrupt_file", f"{path} is not valid CSV: {exc}") from exc


def _is_text_type(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)


_BATCH_ROWS = 1024


def _stated_bytes(group: pq.RowGroupMetaData) -> int:
    """The uncompressed size a row group's footer entry states (the larger of its two counts)."""
    columns = sum(group.column(i).total_uncompressed_size for i in range(group.num_columns))
    return max(group.total_byte_size, columns)


def _is_bytes_type(kind: pa.DataType) -> bool:
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_binary(kind) or pa.types.is_large_binary(kind))


def _value_bytes(batch: pa.RecordBatch) -> list[int]:
    """The bytes of each row's string and binary values, counted in Arrow before any row becomes
    Python: a dictionary's value counts at every row that refers to it, as it will there."""
    total = pa.array([0] * batch.num_rows, pa.int64())
    for column in batch.columns:
        if pa.types.is_dictionary(column.type) and _is_bytes_type(column.type.value_type):
            lengths = pc.take(pc.binary_length(column.dictionary), column.indices)
        elif _is_bytes_type(column.type):
            lengths = pc.binary_length(column)
        else:
            continue
        total = pc.add(total, pc.fill_null(lengths.cast(pa.int64()), 0))
    return total.to_pylist()


def _parquet_file(path: str, source: io.BufferedIOBase, text_column: str
                  ) -> tuple[pq.ParquetFile, pq.FileMetaData]:
    """The Parquet file of ``source`` and its footer, if it is one and has ``text_column`` as a
    string column."""
    try:
        pf = pq.ParquetFile(source)
        meta, schema = pf.metadata, pf.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise BadInput("corrupt_file", f"{path} is not a readable Parquet file: {exc}") from exc
    if text_column not in schema.names:
        raise BadInput("missing_column",
                       f"{path} has no {text_column!r} column (columns: {', '.join(schema.names)});"
                       " choose one with text_column")
    kind = schema.field(text_column).type
    if not _is_text_type(kind):
        raise BadInput("wrong_column_type",
                       f"{path}: column {text_column!r} is {kind}, not a string column")
    return pf, meta


def _next_batch(batches: Iterator[pa.RecordBatch], path: str, g: int, n: int
                ) -> pa.RecordBatch | None:
    """The next batch of row group ``g`` (None when it is read), ``n`` rows read before it.
    A damaged page shows only when it is read."""
    try:
        return next(batches, None)
    except pa.ArrowMemoryError as exc:
        raise BadInput("too_large", f"{path}: row group {g + 1} (rows {n + 1} on) does "
                       f"not fit in memory ({exc}); split it or lower max_file_bytes") from exc
    except (pa.ArrowException, OSError) as exc:
        raise BadInput("corrupt_file", f"{path}: Parquet data after row {n} is damaged: "
                       f"{exc}") from exc


def _read_parquet(path: str, source: io.BufferedIOBase, text_column: str, limits: Limits
                  ) -> Iterator[Document | Reject]:
    """Rows a row group at a time, in batches of about ``document_bytes``. The footer's stated
    uncompressed sizes count against ``file_bytes`` before a row group's pages are read (a few
    KB of zstd can state GBs); what dictionary pages expand to (a value stored once, repeated
    by many rows) counts too, batch by batch, as it is read."""
    pf, meta = _parquet_file(path, source, text_column)
    stated = [_stated_bytes(meta.row_group(g)) for g in range(meta.num_row_groups)]
    n = read_bytes = 0
    for g, group_bytes in enumerate(stated):
        group_rows = meta.row_group(g).num_rows
        if sum(stated[:g + 1]) > limits.file_bytes:
            if n == 0:
                raise BadInput("too_large", f"{path}: its Parquet footer states {sum(stated):,} "
                               f"bytes uncompressed, more than {limits.file_bytes:,} "
                               "(max_file_bytes); no row was read: split it or raise the limit")
            raise BadInput("too_large", f"{path}: its Parquet footer states more than "
                           f"{limits.file_bytes:,} bytes uncompressed up to row {n + group_rows} "
                           f"(max_file_bytes); rows {n + 1} on were not read")
        per_row = max(1, group_bytes // max(1, group_rows))
        batch_rows = max(1, min(_BATCH_ROWS, limits.document_bytes // per_row))
        batches = pf.iter_batches(batch_size=batch_rows, row_groups=[g])
        while (batch := _next_batch(batches, path, g, n)) is not None:
            sizes = _value_bytes(batch)
            rows = batch.to_pylist() if sum(sizes) <= limits.document_bytes else None
            for i, size in enumerate(sizes):
                n += 1
                read_bytes += size
                if read_bytes > limits.file_bytes:
                    raise BadInput("too_large", f"{path} expands to more than "
                                   f"{limits.file_bytes:,} bytes (max_file_bytes); split it or "
                                   "raise the limit")
                if size > limits.document_bytes:
                    yield _too_large(path, f"{path}#{n}", f"row {n}", limits)
                    continue
                row = rows[i] if rows is not None else batch.slice(i, 1).to_pylist()[0]
                text = row.get(text_column)
                yield _record(row, f"{path}#{n}", text_column, "utf-8", False,
                              sha256_hex(f"{path}#{n}:{text!r}"))


def _read_text(path: str, gz: bool, limits: Limits) -> Document | Reject:
    with _Input(path, gz, limits) as stream:
        data = stream.read(limits.document_bytes + 1)
    if len(data) > limits.document_bytes:
        return _too_large(path, path, "the file" + (" (uncompressed)" if gz else ""), limits)
    text, encoding, detected = decode(data, path)
    return _document(text, path, encoding, detected)


def read_source(path: str, text_column: str = "text", limits: Limits = Limits()
                ) -> Iterator[Document | Reject]:
    """Documents and rejects of one file; a bad file becomes one reject, never an exception.

    Read incrementally: memory is bounded by ``limits.document_bytes``, whatever the file's size
    or what a ``.gz`` expands to. Documents and rejects name the file by ``source_name``."""
    path = source_name(path)
    suffix, gz = _format_of(path)
    n_out = 0
    try:
        if suffix not in TEXT_SUFFIXES and suffix not in TABLE_SUFFIXES:
            raise BadInput("unsupported_format",
                           f"{path}: {suffix or 'no'} extension is not a supported format "
                           f"({', '.join(SUPPORTED)})")
        _check_regular(path)
        if suffix in TEXT_SUFFIXES:
            yield _read_text(path, gz, limits)
            return
        if suffix == ".parquet":  # read by row group, not all at once
            with contextlib.ExitStack() as files:
                if gz:  # random access needs the Parquet bytes: on disk, never in memory
                    stream = files.enter_context(_Input(path, gz, limits))
                    fh = files.enter_context(tempfile.TemporaryFile())
                    shutil.copyfileobj(stream, fh, 1 << 20)
                else:
                    fh = files.enter_context(open(file_path(path), "rb"))
                for item in _read_parquet(path, fh, text_column, limits):
                    n_out += 1
                    yield item
        else:
            if suffix in (".jsonl", ".ndjson"):
                rows = _read_jsonl(path, gz, text_column, limits)
            else:
                rows = _read_csv(path, gz, text_column, "\t" if suffix == ".tsv" else ",", limits)
            for item in rows:
                n_out += 1
                yield item
        if n_out == 0:  # a table file with no record is still accounted for
            raise BadInput("empty", f"{path} holds no records (no non-blank line, no row)")
    except BadInput as bad:
        if n_out == 0:
            yield Reject(_file_id(path), path, bad.reason, bad.detail)
        else:  # rows already went out: the rest of the file is what is lost, say so
            yield Reject(_file_id(path, f"after {n_out}"), f"{path}#{n_out + 1}-", bad.reason,
                         f"{bad.detail} (the {n_out} rows before this point were read)")
    except OSError as exc:
        reason = "unreadable" if isinstance(exc, PermissionError | IsADirectoryError) else "io_error"
        yield Reject(_file_id(path), path, reason, f"{path} cannot be read: {exc.strerror or exc}")


def _file_id(path: str, extra: str = "") -> str:
    """A stable id for a file-level reject: the hash of its bytes (or of its name)."""
    try:
        if not stat.S_ISREG(os.stat(file_path(path)).st_mode):  # a FIFO would block
            return sha256_hex(f"unreadable:{path}:{extra}")
        h = hashlib.sha256()
        with open(file_path(path), "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(extra.encode())
        return h.hexdigest()
    except OSError:
        return sha256_hex(f"unreadable:{path}:{extra}")


def read_sources(paths: Iterable[str], text_column: str = "text", limits: Limits = Limits()
                 ) -> Iterator[Document | Reject]:
    for path in paths:
        yield from read_source(path, text_column, limits)
