"""Find sources, read and decode them: documents (doc_id, source, raw_text, ...) or rejects.

Pure functions first, thin Prefect tasks at the end. Every input document becomes exactly one
``Document`` or one ``Reject``: nothing is dropped silently.
"""

from __future__ import annotations

import csv
import glob
import gzip
import hashlib
import io
import json
import logging
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
import pyarrow as pa
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


# ---------------------------------------------------------------------------------------------
# finding sources


def _walk(root: Path) -> Iterator[Path]:
    """Files under ``root``, following directory symlinks once (a symlink loop is cut)."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            log.warning("skipping %s: a symlink loop leads back to %s", dirpath, real)
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        for name in sorted(filenames):
            if not name.startswith((".", "_")):
                yield Path(dirpath) / name


def find_sources(source: str | os.PathLike[str]) -> list[str]:
    """Files named by ``source``: a file, a directory (recursively) or a glob pattern."""
    text = os.fspath(source)
    path = Path(text)
    if path.is_dir():
        return [str(p) for p in _walk(path)]
    if path.exists() or path.is_symlink():
        return [str(path)]
    if glob.has_magic(text):
        files: list[str] = []
        for match in sorted(glob.glob(text, recursive=True)):
            p = Path(match)
            files.extend(str(f) for f in _walk(p)) if p.is_dir() else files.append(match)
        if files:
            return files
        raise FileNotFoundError(f"source pattern {text!r} matches no file")
    raise FileNotFoundError(
        f"source {text!r} does not exist: give a file, a directory or a glob such as 'data/**/*.jsonl'"
    )


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
    best = charset_normalizer.from_bytes(data[: 4 << 20]).best()
    if best is None:
        raise BadInput("undecodable", f"{what} is not UTF-8 and no text encoding fits its bytes")
    try:
        text = data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise BadInput("undecodable", f"{what} is not UTF-8 and not {best.encoding}: {exc}") from exc
    return _check_text(text, what), best.encoding, True


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
    ext = None if external_id is None else _storable(str(external_id))[0]
    return Document(sha256_hex(text), source, text, encoding, detected, ext, meta)


# ---------------------------------------------------------------------------------------------
# reading each format


def _format_of(path: str) -> tuple[str, bool]:
    name = path.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    return Path(name).suffix, gz


def _open_bytes(path: str, gz: bool) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read()
    if gz:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise BadInput("corrupt_file", f"{path} is not a valid gzip file: {exc}") from exc
    return data


def _read_jsonl(path: str, data: bytes, text_column: str) -> Iterator[Document | Reject]:
    for n, line in enumerate(data.splitlines(), start=1):
        source = f"{path}#{n}"
        if not line.strip():
            continue  # blank lines separate nothing in JSONL
        try:
            text_line, encoding, detected = decode(line, f"line {n}")
            record = json.loads(text_line)
        except BadInput as bad:
            yield Reject(sha256_hex(line), source, bad.reason, bad.detail)
            continue
        except json.JSONDecodeError as exc:
            yield Reject(sha256_hex(line), source, "malformed_json",
                         f"line {n} is not valid JSON: {exc.msg} at column {exc.colno}",
                         _storable(line.decode("utf-8", "replace"))[0])
            continue
        if not isinstance(record, dict):
            yield Reject(sha256_hex(line), source, "malformed_json",
                         f"line {n} is JSON but not an object with a {text_column!r} field",
                         _storable(text_line)[0])
            continue
        yield _record(record, source, text_column, encoding, detected, sha256_hex(line))


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


def _read_csv(path: str, data: bytes, text_column: str, delimiter: str) -> Iterator[Document | Reject]:
    text, encoding, detected = decode(data, path)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = reader.fieldnames or []
    if text_column not in columns:
        raise BadInput("missing_column",
                       f"{path} has no {text_column!r} column (columns: {', '.join(columns) or 'none'});"
                       " choose one with text_column")
    try:
        for n, row in enumerate(reader, start=1):
            source = f"{path}#{n}"
            if None in row:  # more fields than the header names
                row = {k: v for k, v in row.items() if k is not None}
            yield _record(row, source, text_column, encoding, detected,
                          sha256_hex(f"{path}#{n}:{row!r}"))
    except csv.Error as exc:
        raise BadInput("corrupt_file", f"{path} is not valid CSV: {exc}") from exc


def _read_parquet(path: str, data: bytes | None, text_column: str) -> Iterator[Document | Reject]:
    try:
        pf = pq.ParquetFile(io.BytesIO(data) if data is not None else path)
    except (pa.ArrowException, OSError) as exc:
        raise BadInput("corrupt_file", f"{path} is not a readable Parquet file: {exc}") from exc
    schema = pf.schema_arrow
    if text_column not in schema.names:
        raise BadInput("missing_column",
                       f"{path} has no {text_column!r} column (columns: {', '.join(schema.names)});"
                       " choose one with text_column")
    kind = schema.field(text_column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_string_view(kind)):
        raise BadInput("wrong_column_type",
                       f"{path}: column {text_column!r} is {kind}, not a string column")
    n = 0
    for batch in pf.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            n += 1
            source = f"{path}#{n}"
            yield _record(row, source, text_column, "utf-8", False,
                          sha256_hex(f"{path}#{n}:{row.get(text_column)!r}"))


def read_source(path: str, text_column: str = "text") -> Iterator[Document | Reject]:
    """Documents and rejects of one file; a bad file becomes one reject, never an exception."""
    suffix, gz = _format_of(path)
    n_out = 0
    try:
        if suffix not in TEXT_SUFFIXES and suffix not in TABLE_SUFFIXES:
            raise BadInput("unsupported_format",
                           f"{path}: {suffix or 'no'} extension is not a supported format "
                           f"({', '.join(SUPPORTED)})")
        if suffix == ".parquet" and not gz:
            data = None
        else:
            data = _open_bytes(path, gz)
        if suffix in TEXT_SUFFIXES:
            text, encoding, detected = decode(data, path)
            yield _document(text, path, encoding, detected)
            return
        if suffix in (".jsonl", ".ndjson"):
            rows = _read_jsonl(path, data, text_column)
        elif suffix in (".csv", ".tsv"):
            rows = _read_csv(path, data, text_column, "\t" if suffix == ".tsv" else ",")
        else:
            rows = _read_parquet(path, data, text_column)
        for item in rows:
            n_out += 1
            yield item
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
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(extra.encode())
        return h.hexdigest()
    except OSError:
        return sha256_hex(f"unreadable:{path}:{extra}")


def read_sources(paths: Iterable[str], text_column: str = "text") -> Iterator[Document | Reject]:
    for path in paths:
        yield from read_source(path, text_column)
