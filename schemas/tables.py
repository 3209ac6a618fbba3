"""The output tables: one versioned Arrow schema per table.

These names are a contract that users' queries depend on: a change adds columns in a new
version (``*_V2``), it never renames or drops a column in place.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1"


def _schema(fields: list[pa.Field], table: str, version: str = SCHEMA_VERSION) -> pa.Schema:
    return pa.schema(fields, metadata={"schema_version": version, "table": table})


_TS = pa.timestamp("us", tz="UTC")

DOCUMENTS_V1 = _schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),  # hex SHA-256 of raw_text (UTF-8)
        # the file's resolved absolute path (tasks.ingest.real_path), or path#N for row N of it;
        # rows written by earlier versions hold the path as typed (maybe relative to that run)
        pa.field("source", pa.string(), nullable=False),
        pa.field("external_id", pa.string()),  # the input's own id (jsonl "id", csv/parquet id)
        pa.field("raw_text", pa.string(), nullable=False),
        pa.field("clean_text", pa.string(), nullable=False),
        pa.field("encoding", pa.string(), nullable=False),  # how the bytes were decoded
        pa.field("encoding_detected", pa.bool_(), nullable=False),  # True if not valid UTF-8
        pa.field("metadata", pa.string()),  # JSON object of the input's other fields
        pa.field("n_edits", pa.int32(), nullable=False),
        pa.field("n_flags", pa.int32(), nullable=False),
        pa.field("n_sentences", pa.int32(), nullable=False),
        pa.field("n_entities", pa.int32(), nullable=False),
        pa.field("cleaner_version", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),  # name==version
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("processed_at", _TS, nullable=False),
    ],
    "documents",
)

EDITS_V1 = _schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("edit_index", pa.int32(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("raw_start", pa.int64(), nullable=False),
        pa.field("raw_end", pa.int64(), nullable=False),
        pa.field("clean_start", pa.int64(), nullable=False),
        pa.field("clean_end", pa.int64(), nullable=False),
        pa.field("before", pa.string(), nullable=False),
        pa.field("after", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ],
    "edits",
)

# v2 adds ``reason``: the evidence that decided the edit ("'Berg' occurs 3 times single, never
# doubled, in this document"), so a reviewer can check it. Every v1 column is kept, in order.
EDITS_V2 = _schema([*EDITS_V1, pa.field("reason", pa.string(), nullable=False)], "edits", "2")

FLAGS_V1 = _schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("flag_index", pa.int32(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("raw_start", pa.int64(), nullable=False),
        pa.field("raw_end", pa.int64(), nullable=False),
        pa.field("clean_start", pa.int64(), nullable=False),
        pa.field("clean_end", pa.int64(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("message", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ],
    "flags",
)

SENTENCES_V1 = _schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("sent_index", pa.int32(), nullable=False),
        pa.field("start_char", pa.int64(), nullable=False),
        pa.field("end_char", pa.int64(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ],
    "sentences",
)

ENTITIES_V1 = _schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("ent_index", pa.int32(), nullable=False),
        pa.field("sent_index", pa.int32(), nullable=False),
        pa.field("start_char", pa.int64(), nullable=False),  # clean_text offsets
        pa.field("end_char", pa.int64(), nullable=False),
        pa.field("raw_start", pa.int64(), nullable=False),  # raw_text offsets
        pa.field("raw_end", pa.int64(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),  # per document (tasks/entities/document.py)
        pa.field("model_label", pa.string()),  # what the model said; "A|B" for merged fragments
        pa.field("canonical", pa.string(), nullable=False),  # the longest form in the document
        pa.field("source", pa.string(), nullable=False),  # model | ruler | merged
        pa.field("run_id", pa.string(), nullable=False),
    ],
    "entities",
)

REJECTS_V1 = _schema(
    [
        # SHA-256 of the decoded text, or of the raw bytes when they could not be decoded:
        # a rerun recognises a rejected input as already handled.
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),  # stable code, e.g. "binary", "empty"
        pa.field("detail", pa.string(), nullable=False),  # a sentence a person understands
        pa.field("raw_text", pa.string()),  # the decoded text when there was one
        pa.field("cleaner_version", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("rejected_at", _TS, nullable=False),
    ],
    "rejects",
)

RUNS_V1 = _schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("flow_run_id", pa.string()),
        pa.field("started_at", _TS, nullable=False),
        pa.field("finished_at", _TS, nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("parameters", pa.string(), nullable=False),  # JSON
        pa.field("counts", pa.string(), nullable=False),  # JSON
        pa.field("status", pa.string(), nullable=False),  # completed | completed_with_rejects | failed
        pa.field("message", pa.string()),
        pa.field("cleaner_version", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
    ],
    "runs",
)

# Every place a text was seen, once per (text, place) and versions: the document's own source,
# a second copy (also a duplicate_text reject), a row that moved to another line of its file
# (skipped, not rejected). ``path`` and ``row`` say the place without parsing ``source``: a
# file named ``x#1.txt`` is path "x#1.txt", row null; row 1 of ``x.jsonl`` is "x.jsonl", 1.
SIGHTINGS_V1 = _schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # as in documents / rejects
        pa.field("path", pa.string(), nullable=False),  # the file (as in source)
        pa.field("row", pa.int64()),  # 1-based line/row of a JSONL/CSV/Parquet file, else null
        # where the text was first seen with these versions (the source of its documents row,
        # unless it was rejected or failed processing); equal to ``source`` for a first sighting
        pa.field("first_source", pa.string(), nullable=False),
        pa.field("cleaner_version", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("seen_at", _TS, nullable=False),
    ],
    "sightings",
)

# Not per run: one file, recomputed from entities + documents after every run publishes.
ENTITY_INDEX_V1 = _schema(
    [
        pa.field("canonical", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("n_documents", pa.int64(), nullable=False),
        pa.field("n_mentions", pa.int64(), nullable=False),
        pa.field("first_seen", _TS, nullable=False),  # processed_at of the first document
        pa.field("last_seen", _TS, nullable=False),
    ],
    "entity_index",
)

# v2 adds corpus-wide identity (tasks/entities/groups.py): rows that name one thing ("Zelensky",
# "Zelenskiy", "Volodymyr Zelenskyy") share an ``entity_id``; ``merge_evidence`` says why a row
# joined ("" for the entity's own canonical row). ``entities JOIN entity_index USING (canonical,
# label)`` gives every mention its entity_id. Every v1 column is kept, in order.
ENTITY_INDEX_V2 = _schema(
    [
        *ENTITY_INDEX_V1,
        pa.field("entity_id", pa.string(), nullable=False),  # 16 hex of sha256(label, canonical)
        pa.field("entity_canonical", pa.string(), nullable=False),  # the entity's best form
        pa.field("entity_label", pa.string(), nullable=False),  # the label of that form
        # its other forms, sorted; "element" is the item's name Parquet gives it on read back
        pa.field("aliases", pa.list_(pa.field("element", pa.string())), nullable=False),
        pa.field("merge_evidence", pa.string(), nullable=False),
    ],
    "entity_index",
    "2",
)

# v3 adds ``grouping_version``: the release of the grouping (tasks/entities/groups.py) that
# decided the row's entity. Each run updates the rows its documents touch
# (tasks/entities/index.py); after a new grouping release, ``python -m tasks.entities.index
# --rebuild`` brings every row to it.
ENTITY_INDEX_V3 = _schema(
    [*ENTITY_INDEX_V2, pa.field("grouping_version", pa.string(), nullable=False)],
    "entity_index",
    "3",
)

TABLES: dict[str, pa.Schema] = {
    "documents": DOCUMENTS_V1,
    "edits": EDITS_V2,
    "flags": FLAGS_V1,
    "sentences": SENTENCES_V1,
    "entities": ENTITIES_V1,
    "rejects": REJECTS_V1,
    "runs": RUNS_V1,
    "entity_index": ENTITY_INDEX_V3,
    "sightings": SIGHTINGS_V1,
}

# What a run's counts (the runs row, the summary, the report) break a table down by: the key
# is "<table>_by_<column>" ("rejects_by_reason", "entities_by_label").
BREAKDOWNS = {"rejects": "reason", "edits": "rule", "flags": "rule", "entities": "label"}

# Tables written per batch; documents/rejects are published last so that a row in a child
# table never refers to a document that is not (yet) visible.
BATCH_TABLES = ("edits", "flags", "sentences", "entities", "sightings", "rejects", "documents")

# Internal: what ingest hands to the cleaner (not published).
INCOMING_V1 = _schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("external_id", pa.string()),
        pa.field("raw_text", pa.string(), nullable=False),
        pa.field("encoding", pa.string(), nullable=False),
        pa.field("encoding_detected", pa.bool_(), nullable=False),
        pa.field("metadata", pa.string()),
    ],
    "incoming",
)

# Internal: what the cleaner hands to annotation (not published): the incoming columns, the
# clean text and how many edits and flags made it.
CLEANED_V1 = _schema(
    [
        *INCOMING_V1,
        pa.field("clean_text", pa.string(), nullable=False),
        pa.field("n_edits", pa.int32(), nullable=False),
        pa.field("n_flags", pa.int32(), nullable=False),
    ],
    "cleaned",
)

# --- Internal: the output's derived state (store/state.py), never read by users -------------
# What a run asks of the published tables, kept in buckets so that it reads only what its own
# documents touch. Rebuilt from the tables at any time (python -m tasks.entities.index --rebuild).

# Every recorded input: a document, a reject, a sighting (the skip check of a batch).
STATE_IDS_V1 = _schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # documents | rejects | sightings
        pa.field("source", pa.string(), nullable=False),
        pa.field("path", pa.string()),  # sightings: the file
        pa.field("first_source", pa.string()),  # sightings: where the text was first seen
        pa.field("cleaner_version", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ],
    "state_ids",
)

# The names of each document's current version, with their mention counts.
STATE_DOC_NAMES_V1 = _schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("processed_at", _TS, nullable=False),
        pa.field("canonical", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("n_mentions", pa.int64(), nullable=False),
    ],
    "state_doc_names",
)

# One row per (canonical, label) ever mentioned: the index's columns, the documents of the
# current versions that mention it (none: the name is kept for its first_seen, not published),
# and the keys by which the grouping finds the names it could join (tasks/entities/index.py).
STATE_NAMES_V1 = _schema(
    [
        *ENTITY_INDEX_V3,
        pa.field("documents", pa.list_(pa.field("element", pa.string())), nullable=False),
        # the grouping's keys: names that share one may be compared by a rule (entity_index)
        pa.field("keys", pa.list_(pa.field("element", pa.string())), nullable=False),
    ],
    "state_names",
)

# Acronym definitions of the current versions (entity_groups.find_definitions).
STATE_DEFINITIONS_V1 = _schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("letters", pa.string(), nullable=False),
        pa.field("canonical", pa.string(), nullable=False),
    ],
    "state_definitions",
)
