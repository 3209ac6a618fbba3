"""What reading gives: one ``Document`` or one ``Reject`` (a stable reason) per input document,
and ``BadInput``, why an input cannot become a document."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


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
