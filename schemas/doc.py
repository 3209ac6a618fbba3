"""docs/tables.md, rendered from the schemas in schemas/tables.py so that it cannot drift.

    python -m schemas.doc            # (re)write docs/tables.md
    python -m schemas.doc --check    # exit 1 if docs/tables.md is not what the schemas give

Names, types, nullability, versions and order come from the schemas themselves; what a column
means is said once, here, in ``COLUMNS``. The descriptions are not Arrow field metadata on the
schemas because field metadata is written into every Parquet file's footer (``ARROW:schema``):
it would change the bytes of every file the pipeline writes.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pyarrow as pa

from schemas import tables

DOC = Path("docs/tables.md")

# What one row of each published table is, and what else to know about it.
ROWS: dict[str, str] = {
    "documents": "one row per published document and version (a new cleaner or model version, or "
                 "`--reprocess`, adds a row; the `current_documents` view keeps the latest)",
    "edits": "one row per repair the cleaner made to a document",
    "flags": "one row per span the cleaner left unchanged for a person to review",
    "sentences": "one row per sentence of `clean_text` (spaCy's rule-based sentencizer)",
    "entities": "one row per named entity in `clean_text`, with its offsets in both texts",
    "rejects": "one row per input that is not a document (and why)",
    "runs": "one row per run of the flow",
    "entity_index": "one row per (canonical, label) over the whole output: a single file, "
                    "`entity_index/index.parquet`, replaced atomically at the end of every run",
    "sightings": "one row per (text, place) seen: each document and reject, plus each row that "
                 "moved within its file; a place is recorded once",
}

COLUMNS: dict[str, dict[str, str]] = {
    "documents": {
        "doc_id": "hex SHA-256 of `raw_text` (UTF-8)",
        "source": "the file's path, or `path#N` for line/row N (1-based) of a JSONL/CSV/Parquet "
                  "file",
        "external_id": "the input's own id (JSONL `id`, CSV/Parquet id column)",
        "raw_text": "the text as read and decoded",
        "clean_text": "the repaired text; replaying the document's `edits` on `raw_text` gives it",
        "encoding": "how the bytes were decoded",
        "encoding_detected": "true when the input was not valid UTF-8 and its encoding was "
                             "detected (charset-normalizer)",
        "metadata": "JSON object of the input's other fields",
        "n_edits": "rows of this document in `edits`",
        "n_flags": "rows of this document in `flags`",
        "n_sentences": "rows of this document in `sentences`",
        "n_entities": "rows of this document in `entities`",
        "cleaner_version": "cleaner release + a digest of its settings, tagger model, wordfreq "
                           "release and word lists; a new version reprocesses",
        "model": "spaCy pipeline as `name==version` (+ the entity patterns file's hash)",
        "run_id": "the run that published the row (also the `run_id=` partition)",
        "processed_at": "when the document was processed (UTC)",
    },
    "edits": {
        "doc_id": "the document (`documents.doc_id`)",
        "edit_index": "position of the edit in the document, 0-based",
        "rule": "the cleaning rule that made it (`duplicate_word`, `encoding`, ...)",
        "raw_start": "start offset in `raw_text`",
        "raw_end": "end offset in `raw_text` (exclusive)",
        "clean_start": "start offset in `clean_text`",
        "clean_end": "end offset in `clean_text` (exclusive)",
        "before": "`raw_text[raw_start:raw_end]`",
        "after": "`clean_text[clean_start:clean_end]`",
        "run_id": "the run that published the row",
        "reason": "the evidence that decided the edit (\"'Berg' occurs 3 times single, never "
                  "doubled, in this document\"); may be empty for mechanical repairs",
    },
    "flags": {
        "doc_id": "the document (`documents.doc_id`)",
        "flag_index": "position of the flag in the document, 0-based",
        "rule": "the rule that raised it",
        "raw_start": "start offset in `raw_text`",
        "raw_end": "end offset in `raw_text` (exclusive)",
        "clean_start": "start offset in `clean_text`",
        "clean_end": "end offset in `clean_text` (exclusive)",
        "text": "the flagged text",
        "message": "why it is flagged, for a reviewer",
        "run_id": "the run that published the row",
    },
    "sentences": {
        "doc_id": "the document (`documents.doc_id`)",
        "sent_index": "position of the sentence in the document, 0-based",
        "start_char": "start offset in `clean_text`",
        "end_char": "end offset in `clean_text` (exclusive)",
        "text": "the sentence",
        "run_id": "the run that published the row",
    },
    "entities": {
        "doc_id": "the document (`documents.doc_id`)",
        "ent_index": "position of the entity in the document, 0-based",
        "sent_index": "the sentence it is in (`sentences.sent_index`)",
        "start_char": "start offset in `clean_text`",
        "end_char": "end offset in `clean_text` (exclusive)",
        "raw_start": "start offset in `raw_text`",
        "raw_end": "end offset in `raw_text` (exclusive)",
        "text": "the entity as written (no leading lower-case \"the\", no possessive)",
        "label": "the label decided for this name in this document (one label per name per "
                 "document)",
        "model_label": "what the model said; `A|B` for fragments merged into one name",
        "canonical": "the longest form of the name in the document, or a patterns file's `id`",
        "source": "how the label was decided: `model`, `ruler` or `merged`",
        "run_id": "the run that published the row",
    },
    "rejects": {
        "doc_id": "SHA-256 of the decoded text, or of the raw bytes when they could not be "
                  "decoded (a rerun knows the input is handled)",
        "source": "as in `documents`: path, or `path#N`; `path#N-` for the rest of a file",
        "reason": "a stable code (list below)",
        "detail": "a sentence a person understands",
        "raw_text": "the decoded text, when there was one",
        "cleaner_version": "as in `documents`",
        "model": "as in `documents`",
        "run_id": "the run that recorded the row",
        "rejected_at": "when (UTC)",
    },
    "runs": {
        "run_id": "the run (sorts by start time)",
        "flow_run_id": "Prefect's flow run id",
        "started_at": "start (UTC)",
        "finished_at": "end, after the entity index and report (UTC)",
        "source": "the `--source` given",
        "parameters": "JSON of every setting (`RunSettings.model_validate_json(parameters)` reads "
                      "it back)",
        "counts": "JSON: files, documents, rejects, skipped, moved, rows per table, breakdowns "
                  "(`rejects_by_reason`, `edits_by_rule`, ...), `seconds_by_stage`; "
                  "`rolled_forward_batches` after a recovery",
        "status": "`completed`, `completed_with_rejects`, `failed` or `interrupted`",
        "message": "what went wrong, or `nothing new: N documents already published`",
        "cleaner_version": "as in `documents`",
        "model": "as in `documents`",
    },
    "entity_index": {
        "canonical": "the name (`entities.canonical`)",
        "label": "its label (`entities.label`)",
        "n_documents": "current document versions that mention it",
        "n_mentions": "its mentions in those documents",
        "first_seen": "`processed_at` of the first document that mentioned it",
        "last_seen": "`processed_at` of the latest",
        "entity_id": "16 hex digits of sha256(label, canonical) of the entity's best-attested "
                     "form; rows that name one thing share it",
        "entity_canonical": "the entity's best form",
        "entity_label": "the label of that form",
        "aliases": "the entity's other forms, sorted",
        "merge_evidence": "why this row joined its entity; empty for the entity's own row and "
                          "for names alone",
        "grouping_version": "the grouping release that decided the row "
                            "(`python -m tasks.entities.index --rebuild` after a new one)",
    },
    "sightings": {
        "doc_id": "the text (`documents.doc_id` or `rejects.doc_id`)",
        "source": "as in `documents` / `rejects`",
        "path": "the file (not parsed from `source`: `x#1.txt` is path `x#1.txt`, row null)",
        "row": "1-based line/row of a JSONL/CSV/Parquet file; null for a whole file",
        "first_source": "where this text was first seen: its `documents` row's source, or its own "
                        "source if it is a reject",
        "cleaner_version": "as in `documents`",
        "model": "as in `documents`",
        "run_id": "the run that recorded the row",
        "seen_at": "when (UTC)",
    },
}

INTRO = """\
# The tables

<!-- Generated by `python -m schemas.doc` from schemas/tables.py: do not edit by hand.
     tests/schemas/test_tables_doc.py fails when this file and the schemas disagree. -->

Every table is a folder of zstd Parquet files with hive-style `run_id=<id>` partitions
(`<table>/run_id=<id>/part-<batch>.parquet`), except `entity_index`, one file. Every table exists
after every run, also one the run wrote no rows to (`part-empty.parquet` with the table's schema),
so globs never fail and schemas are the same across runs. Schemas are explicit and versioned: the
Parquet key-value metadata `schema_version` says which; a new version only adds columns at the
end, it never renames, retypes or drops one. "since" is the version that added a column.

Offsets are Python string indices, end exclusive. Child rows join to their document on
`(doc_id, run_id)`. For one row per document (its latest version) use the DuckDB views in
`store/views.sql` (`current_documents`, `current_edits`, ...) or `store.current(output, table)`.
"""

OUTRO = """\
## Guarantees you can rely on in queries

- Replacing `raw_text[raw_start:raw_end]` by `after` for each edit of a document gives
  `clean_text`; `before == raw_text[raw_start:raw_end]`, `after == clean_text[clean_start:clean_end]`.
- For an entity that no edit touches, `raw_text[raw_start:raw_end] == text`.
- Every input document is in exactly one of `documents` or `rejects`.
- Reject reasons are stable codes: `empty`, `binary`, `undecodable`, `malformed_json`,
  `missing_text`, `bad_text_type`, `missing_column`, `wrong_column_type`, `corrupt_file`,
  `unreadable`, `io_error`, `unsupported_format`, `duplicate_text` (the same text already came
  from another source), `too_large` (a document over `--max-document-bytes`, or the rest of a
  file past `--max-file-bytes`), `too_slow` (cleaning took longer than
  `--max-document-seconds`), `processing_error` (a step failed on this document).
- Every mention gets its corpus-wide entity with
  `SELECT e.*, i.entity_id FROM entities e JOIN entity_index i USING (canonical, label)`.
"""


def versions(name: str) -> list[tuple[int, pa.Schema]]:
    """Every version of a published table, oldest first (``EDITS_V1``, ``EDITS_V2``, ...)."""
    pattern = re.compile(rf"{name.upper()}_V(\d+)")
    found = [(int(m.group(1)), schema) for attr, schema in vars(tables).items()
             if (m := pattern.fullmatch(attr))]
    return sorted(found, key=lambda pair: pair[0])


def since(name: str) -> dict[str, int]:
    """The version that added each column of a table."""
    added: dict[str, int] = {}
    for number, schema in versions(name):
        for column in schema.names:
            added.setdefault(column, number)
    return added


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_table(name: str, schema: pa.Schema) -> str:
    described = COLUMNS.get(name, {})
    missing = [c for c in schema.names if c not in described]
    if missing:
        raise KeyError(f"{name}: no description for {', '.join(missing)}; add it to "
                       "schemas/doc.py COLUMNS")
    version = schema.metadata[b"schema_version"].decode()
    added = since(name)
    lines = [f"## `{name}` (v{version})", "", ROWS[name][0].upper() + ROWS[name][1:] + ".", "",
             "| column | type | null | since | description |", "|---|---|---|---|---|"]
    for field in schema:
        lines.append(f"| `{field.name}` | `{_cell(str(field.type))}` | "
                     f"{'yes' if field.nullable else 'no'} | v{added[field.name]} | "
                     f"{_cell(described[field.name])} |")
    return "\n".join(lines) + "\n"


def render() -> str:
    """The whole of docs/tables.md."""
    stale = {f"{t}.{c}" for t, cols in COLUMNS.items() for c in cols
             if t not in tables.TABLES or c not in tables.TABLES[t].names}
    if stale:
        raise KeyError(f"described but not in any schema: {', '.join(sorted(stale))}")
    summary = ["| table | version | row |", "|---|---|---|"]
    for name, schema in tables.TABLES.items():
        version = schema.metadata[b"schema_version"].decode()
        summary.append(f"| [`{name}`](#{name}-v{version}) | v{version} | {_cell(ROWS[name])} |")
    parts = [INTRO, "\n".join(summary) + "\n"]
    parts += [render_table(name, schema) for name, schema in tables.TABLES.items()]
    parts.append(OUTRO)
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.doc", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write: exit 1 if the file differs from the schemas")
    parser.add_argument("path", nargs="?", type=Path, default=DOC, help=f"default: {DOC}")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else None
        if current != text:
            print(f"{args.path} is out of date: run python -m schemas.doc", file=sys.stderr)
            return 1
        return 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
