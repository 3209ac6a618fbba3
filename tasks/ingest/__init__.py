"""Ingest: find sources, read and decode them -> documents (doc_id, source, raw_text, ...) or
rejects. Every input document becomes exactly one ``Document`` or one ``Reject``: nothing is
dropped silently.

``sources`` finds files and names them, ``formats`` reads each format (``read_source``),
``decode`` turns bytes into text, ``limits`` bounds what one input may hold; ``documents`` is
what they give. The names other stages use are importable from here.
"""

from tasks.ingest.decode import decode
from tasks.ingest.documents import BadInput, Document, Reject, sha256_hex
from tasks.ingest.formats import SUPPORTED, TABLE_SUFFIXES, TEXT_SUFFIXES, read_source, read_sources
from tasks.ingest.limits import MAX_DOCUMENT_BYTES, MAX_FILE_BYTES, Limits
from tasks.ingest.sources import file_path, find_sources, real_path, resolved_source, source_name

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_FILE_BYTES",
    "SUPPORTED",
    "TABLE_SUFFIXES",
    "TEXT_SUFFIXES",
    "BadInput",
    "Document",
    "Limits",
    "Reject",
    "decode",
    "file_path",
    "find_sources",
    "read_source",
    "read_sources",
    "real_path",
    "resolved_source",
    "sha256_hex",
    "source_name",
]
