"""Bytes to text: UTF-8 (with or without BOM), a BOM-marked UTF-16/32, else the encoding
charset-normalizer detects; what is not text (binary, empty) is a ``BadInput``."""

from __future__ import annotations

import codecs
import re

import charset_normalizer

from tasks.ingest.documents import BadInput

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


_UTF8_BOM = b"\xef\xbb\xbf"


def _wide_encoding(head: bytes) -> tuple[str, bool] | None:
    for bom, enc in ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
                     (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if head.startswith(bom):
            return enc, True
    return None


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
