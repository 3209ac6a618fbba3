"""spaCy over a batch: sentences and named entities of the clean text, offsets in both texts."""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from schemas.tables import CLEANED_V1, DOCUMENTS_V1, ENTITIES_V1, SENTENCES_V1
from tasks.annotate.casing import readable_case
from tasks.batch import Batch, Failures, Step, conform, run_step
from tasks.clean import AppliedEdit, OffsetMap
from tasks.entities import Mention, consistent_entities
from tasks.models import MODEL_SPANS, PIECE_CHARS, EntityPatterns, load_pipeline

if TYPE_CHECKING:  # spaCy is imported where a model is used: a flow process whose batches run
    # on a pool never loads it (32 MB and 0.4 s less there, measured)
    from spacy.language import Language
    from spacy.tokens import Doc

# Pieces the model reads at once. The ner model's working memory grows with the batch: on news
# text a worker's peak was ~150 MB above its resting size at 64 and ~30 MB at 16, at the same
# CPU time per token (measured on this project's 2-core machine; see docs/benchmarks.md).
PIPE_BATCH = 16


def mentions_of(doc: Doc, offset: int = 0, text: str | None = None) -> list[Mention]:
    """The entities of a spaCy doc as mentions (offsets shifted by ``offset``); their text is
    taken from ``text`` (the document as written) when the model read a re-cased copy."""
    model = doc.spans[MODEL_SPANS] if MODEL_SPANS in doc.spans else None
    out = []
    for ent in doc.ents:
        s, e = ent.start_char + offset, ent.end_char + offset
        surface = text[s:e] if text is not None else ent.text
        if ent.ent_id_ and model is not None:
            said = list(dict.fromkeys(m.label_ for m in model
                                      if m.start < ent.end and ent.start < m.end))
            out.append(Mention(s, e, surface, ent.label_, "|".join(said) or None, "ruler",
                               ruler_id=ent.ent_id_))
        else:
            out.append(Mention(s, e, surface, ent.label_, ent.label_))
    return out


def pieces(text: str, limit: int = PIECE_CHARS) -> Iterator[tuple[int, str]]:
    """(offset, piece) covering ``text`` in pieces of at most ``limit`` characters."""
    start = 0
    n = len(text)
    while n - start > limit:
        end = start + limit
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            cut = text.rfind(sep, start + limit // 2, end)
            if cut != -1:
                cut += len(sep)
                break
        if cut == -1:
            cut = end
        yield start, text[start:cut]
        start = cut
    yield start, text[start:]


ANNOTATE = Step("annotate", failure="annotation failed")


@dataclass
class Annotation:
    """One document's sentences and entities, as rows of their tables."""

    sentences: list[dict] = field(default_factory=list)
    entities: list[dict] = field(default_factory=list)


def annotate_documents(batch: Batch, model_name: str,
                       patterns: str | EntityPatterns | None = None) -> Batch:
    """Sentences and entities of every cleaned document; builds the final ``documents`` rows."""
    nlp = load_pipeline(model_name, patterns)  # a model that cannot load fails the batch

    def each(batch: Batch, failures: Failures) -> list[Annotation]:
        cleaned = conform(batch.incoming, CLEANED_V1)
        ids = cleaned.column("doc_id").to_pylist()
        texts = cleaned.column("clean_text").to_pylist()
        offsets = offset_maps(batch.tables.get("edits"))
        found = [Annotation() for _ in ids]
        mentions: list[list[Mention]] = [[] for _ in ids]
        for i, doc, offset in read_pieces(nlp, texts, failures):
            with failures.document(i):
                sentences = found[i].sentences  # a document's pieces number on
                sentences.extend(sentence_rows(doc, offset, texts[i], ids[i], batch.run_id,
                                               first=len(sentences)))
                mentions[i].extend(mentions_of(doc, offset, texts[i]))
        # document-level consistency needs every piece of a document: once all are read
        for i, doc_id in enumerate(ids):
            if i not in failures:
                with failures.document(i):
                    found[i].entities = entity_rows(
                        mentions[i], texts[i], offsets.get(doc_id, OffsetMap([])),
                        [r["start_char"] for r in found[i].sentences], doc_id, batch.run_id)
        return found

    def assemble(batch: Batch, found: list[Annotation]) -> Batch:
        batch.tables["documents"] = documents_table(
            batch.incoming, [len(a.sentences) for a in found], [len(a.entities) for a in found],
            batch.cleaner_version, batch.model, batch.run_id)
        batch.add("sentences", pa.Table.from_pylist(
            [r for a in found for r in a.sentences], schema=SENTENCES_V1))
        batch.add("entities", pa.Table.from_pylist(
            [r for a in found for r in a.entities], schema=ENTITIES_V1))
        return batch

    return run_step(ANNOTATE, batch, each, assemble)


def offset_maps(edits: pa.Table | None) -> dict[str, OffsetMap]:
    """Each document's map from clean to raw offsets, rebuilt from its ``edits`` rows."""
    by_doc: dict[str, list[AppliedEdit]] = defaultdict(list)
    if edits is not None and edits.num_rows:
        for r in edits.select(["doc_id", "rule", "raw_start", "raw_end", "clean_start",
                               "clean_end"]).to_pylist():
            by_doc[r["doc_id"]].append(AppliedEdit(r["rule"], r["raw_start"], r["raw_end"],
                                                   r["clean_start"], r["clean_end"], "", ""))
    return {doc_id: OffsetMap(applied) for doc_id, applied in by_doc.items()}


def read_pieces(nlp: Language, texts: list[str], failures: Failures
                ) -> Iterator[tuple[int, Doc, int]]:
    """(row, spaCy doc, offset) for every piece of every document, skipping the pieces of a
    document that already failed. The model reads ALL-CAPS headlines and datelines re-cased;
    offsets are unchanged."""

    def stream() -> Iterator[tuple[str, tuple[int, int]]]:
        for i, text in enumerate(texts):
            readable = readable_case(text)
            for offset, piece in pieces(text):
                yield readable[offset:offset + len(piece)], (i, offset)

    # A memory zone frees the strings spaCy interns for these texts when the batch is done:
    # without it a long-lived worker's vocabulary grows with every batch.
    with nlp.memory_zone():
        for doc, (i, offset) in nlp.pipe(stream(), as_tuples=True, batch_size=PIPE_BATCH):
            if i not in failures:
                yield i, doc, offset


def sentence_spans(doc: Doc) -> list[tuple[int, int]]:
    """(start_char, end_char) of each sentence of ``doc``: exactly the sentences spaCy's
    rule-based ``sentencizer`` (default punctuation) sets, computed over the doc's arrays
    instead of one Python ``Token`` per token (the sentencizer was ~3% of annotation's CPU;
    a test compares both on many texts). The sentencizer starts a sentence at a token that is
    neither punctuation nor a sentence end when a sentence end (".", "!", "?", ...) came after
    the previous such token."""
    from spacy.attrs import IDX, IS_PUNCT, LENGTH, ORTH

    n = len(doc)
    if not n:
        return []
    a = doc.to_array([ORTH, IS_PUNCT, IDX, LENGTH])  # uint64
    ends = np.isin(a[:, 0], _sentence_end_ids())
    normal = (a[:, 1] == 0) & ~ends
    at = np.arange(n)
    # the last sentence end and the last "normal" token strictly before each token
    last_end = np.maximum.accumulate(np.where(ends, at, -1))
    last_normal = np.maximum.accumulate(np.where(normal, at, -1))
    starts = np.flatnonzero(normal[1:] & (last_end[:-1] > last_normal[:-1])) + 1
    starts = np.concatenate(([0], starts))
    last = np.append(starts[1:] - 1, n - 1)
    return list(zip(a[starts, 2].tolist(), (a[last, 2] + a[last, 3]).tolist()))


@functools.cache
def _sentence_end_ids() -> np.ndarray:
    from spacy.pipeline import Sentencizer
    from spacy.strings import get_string_id

    return np.array(sorted(get_string_id(c) for c in Sentencizer.default_punct_chars),
                    dtype=np.uint64)


def sentence_rows(doc: Doc, offset: int, text: str, doc_id: str, run_id: str,
                  first: int = 0) -> list[dict]:
    """The non-blank sentences of one piece, offsets in ``text`` (the whole document)."""
    rows = []
    for s, e in sentence_spans(doc):
        s, e = s + offset, e + offset
        if not text[s:e].strip():
            continue
        rows.append({"doc_id": doc_id, "sent_index": first + len(rows), "start_char": s,
                     "end_char": e, "text": text[s:e], "run_id": run_id})
    return rows


def entity_rows(mentions: list[Mention], text: str, offsets: OffsetMap, sent_starts: list[int],
                doc_id: str, run_id: str) -> list[dict]:
    """A document's entities, decided consistently, with their sentence and raw offsets."""
    rows = []
    for k, m in enumerate(consistent_entities(mentions, text)):
        raw_s, raw_e = offsets.to_raw(m.start, m.end)
        rows.append({"doc_id": doc_id, "ent_index": k,
                     "sent_index": max(0, bisect_right(sent_starts, m.start) - 1),
                     "start_char": m.start, "end_char": m.end, "raw_start": raw_s,
                     "raw_end": raw_e, "text": m.text, "label": m.label,
                     "model_label": m.model_label, "canonical": m.canonical,
                     "source": m.source, "run_id": run_id})
    return rows


def documents_table(cleaned: pa.Table, n_sentences: list[int], n_entities: list[int],
                    cleaner: str, model: str, run_id: str) -> pa.Table:
    """The published ``documents`` rows: the cleaned documents and what annotation found."""
    n = cleaned.num_rows
    processed_at = DOCUMENTS_V1.field("processed_at").type
    added = {
        "n_sentences": pa.array(n_sentences, pa.int32()),
        "n_entities": pa.array(n_entities, pa.int32()),
        "cleaner_version": pa.array([cleaner] * n, pa.string()),
        "model": pa.array([model] * n, pa.string()),
        "run_id": pa.array([run_id] * n, pa.string()),
        "processed_at": pa.array([datetime.now(UTC)] * n, processed_at),
    }
    return pa.Table.from_arrays(
        [added[f.name] if f.name in added else cleaned.column(f.name).cast(f.type)
         for f in DOCUMENTS_V1], schema=DOCUMENTS_V1)
