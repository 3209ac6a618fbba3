"""Reading each format (text, JSONL, CSV/TSV, Parquet, any of them gzipped) into documents and
rejects: ``read_source``; a bad file becomes one reject, never an exception."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.ingest.decode import (
    _UTF8_BOM,
    _check_text,
    _csv_encoding,
    _decode_line,
    _detect_encoding,
    _is_utf8,
    _storable,
    _wide_encoding,
    decode,
)
from tasks.ingest.documents import BadInput, Document, Reject, sha256_hex
from tasks.ingest.limits import Limits, _CsvLines, _head, _Input, _lines, _too_large, _WideLines
from tasks.ingest.sources import file_path, source_name

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ""})
TABLE_SUFFIXES = frozenset({".jsonl", ".ndjson", ".csv", ".tsv", ".parquet"})
SUPPORTED = sorted(TEXT_SUFFIXES - {""} | TABLE_SUFFIXES) + ["(any of these).gz"]


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
