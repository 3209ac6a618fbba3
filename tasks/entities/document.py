"""Entities people can use: one label and one canonical name per thing named in a document,
plus the corpus-wide ``entity_index``.

The statistical model labels each mention on its own, so one document can call the same person
ORG in one sentence and GPE in the next, or split a name in two. The pure functions here work on
the mentions of one document (``Mention`` lists, clean-text offsets) and are tested on plain
spans; ``build_entity_index`` is the whole index in memory (the reference ``tasks.entities.index``
folds runs into incrementally, and equals).

Rules, in the order they run:
0. ``trim_names``: a name's span leaves out a leading lower-case "the" and a possessive ("the
   [United States]'s"), as ``canonical`` always did and as the project's gold (eval/entities) and
   GUM's are written; a capitalised "The" stays (The New York Times).
1. ``merge_fragments``: two mentions separated only by name particles ("von", "der", "bin"...)
   where one is a PERSON and the particle shows the name goes on ("Ursula von der" + "Leyen")
   become one PERSON mention (``source="merged"``).
2. ``resolve``: mentions are grouped by surface form ("Kyiv" = "kyiv" = "Kyiv's"); a short form
   is tied to a longer person name it begins or ends ("Xi" -> "Xi Jinping", "Menon" -> "Rajan
   Menon") when exactly one such longer name is in the document and the group has PERSON
   evidence. Each group gets one label: a ruler match decides; otherwise a vote in which every
   mention counts once per word of its form (so the full name outweighs one short mention, and a
   long form the model got wrong once does not outvote a dozen right short mentions); ties go to
   the longest form's label. ``canonical`` is the group's longest form.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import pyarrow as pa

from schemas.tables import ENTITY_INDEX_V3
from tasks.entities.groups import (
    GROUPING_RELEASE,
    Name,
    acronym_letters,
    find_definitions,
    group_names,
    initials,
)

log = logging.getLogger(__name__)

# Labels that name a thing; numbers, dates and amounts keep the model's label and their text.
NAME_LABELS = frozenset({"PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT",
                         "WORK_OF_ART", "LAW", "LANGUAGE"})
PLACE_LABELS = frozenset({"GPE", "LOC", "NORP", "FAC"})
# Lower-case words inside personal names (Dutch, German, Romance, Arabic, Portuguese...).
NAME_PARTICLES = frozenset({"von", "van", "der", "den", "de", "del", "della", "degli", "di", "da",
                            "dos", "das", "do", "du", "la", "le", "zu", "ter", "ten", "bin",
                            "bint", "ibn", "al", "el", "y", "e"})
# The id the pipeline gives ruler patterns that have none (so ruler matches can be told apart).
RULER_ID = "mtclean:ruler"


@dataclass(frozen=True, slots=True)
class Mention:
    """An entity mention of one document; offsets are in the clean text."""

    start: int
    end: int
    text: str
    label: str  # the decided label
    model_label: str | None  # what the model said (None: the model saw nothing here)
    source: str = "model"  # model | ruler | merged
    canonical: str = ""
    ruler_id: str = ""  # the pattern's id, when the ruler matched


_POSSESSIVE = re.compile(r"\s*(?:['’]s|['’])$")
_LEADING_THE = re.compile(r"^the\s+", re.IGNORECASE)


def surface(text: str) -> str:
    """The form a mention is known by: no leading "the", no possessive, single spaces."""
    text = " ".join(text.split())
    return _POSSESSIVE.sub("", _LEADING_THE.sub("", text)).strip() or text


def _words(text: str) -> tuple[str, ...]:
    return tuple(surface(text).casefold().split())


_THE_PREFIX = re.compile(r"the\s+")  # lower case only: "The New York Times" keeps its "The"


def unclosed_bracket(span: str) -> int | None:
    """Where a bracket opens that the span does not close ("World Health Organisation (WHO":
    the model ran into the acronym after the name), or None."""
    opened: list[int] = []
    for i, ch in enumerate(span):
        if ch in "([":
            opened.append(i)
        elif ch in ")]" and opened:
            opened.pop()
    return opened[0] if opened else None


def trim_names(mentions: list[Mention], text: str) -> list[Mention]:
    """Names without a leading lower-case "the", a trailing possessive ("'s", "'") or a bracket
    they do not close."""
    out = []
    for m in mentions:
        if m.label not in NAME_LABELS or m.source == "ruler":
            out.append(m)
            continue
        start, end = m.start, m.end
        the = _THE_PREFIX.match(text, start, end)
        if the and the.end() < end:
            start = the.end()
        cut = unclosed_bracket(text[start:end])
        if cut:  # not at 0: a name that is all bracket stays as the model said
            end = start + len(text[start:start + cut].rstrip())
        possessive = _POSSESSIVE.search(text, start, end)
        if possessive and possessive.start() > start:
            end = possessive.start()
        out.append(m if (start, end) == (m.start, m.end)
                   else replace(m, start=start, end=end, text=text[start:end]))
    return out


def merge_fragments(mentions: list[Mention], text: str) -> list[Mention]:
    """Join fragments of one personal name that the model split around name particles."""
    out: list[Mention] = []
    for m in sorted(mentions, key=lambda m: (m.start, m.end)):
        prev = out[-1] if out else None
        if prev is not None and _continues_name(prev, m, text):
            labels = [x for x in (prev.model_label or "").split("|") + [m.model_label or ""] if x]
            out[-1] = Mention(prev.start, m.end, text[prev.start:m.end], "PERSON",
                              "|".join(labels) or None, "merged")
        else:
            out.append(m)
    return out


def _continues_name(a: Mention, b: Mention, text: str) -> bool:
    if a.source == "ruler" or b.source == "ruler" or b.start < a.end:
        return False
    if "PERSON" not in (a.label, b.label) or not {a.label, b.label} <= NAME_LABELS:
        return False
    gap = text[a.end:b.start]
    if not gap or "\n" in gap:
        return False
    gap_words = gap.split()
    if any(w not in NAME_PARTICLES for w in gap_words):
        return False
    a_last = a.text.split()[-1] if a.text.split() else ""
    b_first = b.text.split()[0] if b.text.split() else ""
    particle = bool(gap_words) or a_last in NAME_PARTICLES or b_first in NAME_PARTICLES
    return particle and b_first[:1].isupper() and a.text[:1].isupper()


Form = tuple[str, ...]  # a name's words, as ``_words`` reads them


def resolve(mentions: list[Mention]) -> list[Mention]:
    """One label and one canonical name per group of mentions of the same thing."""
    by_form = _by_form(mentions)
    # union-find over forms: a short form joins the one longer person name it begins or ends
    parent = {form: form for form in by_form}
    for short, target in _short_forms(mentions, by_form):
        parent[_find(parent, short)] = _find(parent, target)
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for form, idx in by_form.items():
        groups[_find(parent, form)].extend(idx)
    out = [replace(m, canonical=surface(m.text)) for m in mentions]
    for idx in groups.values():
        idx.sort()
        label = _decide_label([mentions[i] for i in idx])
        canonical = _canonical([mentions[i] for i in idx])
        for i in idx:
            out[i] = replace(out[i], label=label, canonical=canonical)
    return out


def _by_form(mentions: list[Mention]) -> dict[Form, list[int]]:
    """The names among ``mentions`` (a name label, or the ruler's), by form, in order."""
    by_form: dict[Form, list[int]] = defaultdict(list)
    for i, m in enumerate(mentions):
        if m.label in NAME_LABELS or m.source == "ruler":
            words = _words(m.text)
            if words:
                by_form[words].append(i)
    return by_form


def _find(parent: dict[Form, Form], form: Form) -> Form:
    while parent[form] != form:
        parent[form] = parent[parent[form]]
        form = parent[form]
    return form


def _short_forms(mentions: list[Mention], by_form: dict[Form, list[int]]
                 ) -> Iterator[tuple[Form, Form]]:
    """(short form, the longer person name it is part of), in the order of ``by_form``."""

    def person_evidence(form: Form) -> bool:
        return any(mentions[i].label == "PERSON" or mentions[i].model_label == "PERSON"
                   for i in by_form[form])

    def ruler_says_other(form: Form) -> bool:
        return any(mentions[i].source == "ruler" and mentions[i].label != "PERSON"
                   for i in by_form[form])

    def place_only(form: Form) -> bool:
        return all(mentions[i].label in PLACE_LABELS for i in by_form[form])

    by_edge = _by_edge(by_form)
    for short in by_form:
        target = _longer_name(short, by_edge)
        if target is None or ruler_says_other(short) or ruler_says_other(target):
            continue
        # places and nationalities are often surnames too ("Washington", "Jordan"): a short
        # form the model only ever called a place is not tied to a person's name
        if person_evidence(short) or (person_evidence(target) and not place_only(short)):
            yield short, target


def _by_edge(forms: Iterable[Form]) -> dict[tuple[int, str], list[Form]]:
    """Forms by first word (0, word) and by last word (-1, word). A longer form that begins
    (ends) with a short one has its first (last) word: looking there only keeps a long
    document's many names from comparing every pair of forms."""
    by_edge: dict[tuple[int, str], list[Form]] = defaultdict(list)
    for form in forms:
        by_edge[0, form[0]].append(form)
        by_edge[-1, form[-1]].append(form)
    return by_edge


def _longer_name(short: Form, by_edge: dict[tuple[int, str], list[Form]]) -> Form | None:
    """The one longest form that begins or ends with ``short``, if there is exactly one."""
    if any(len(w) < 2 for w in short) or all(w in NAME_PARTICLES for w in short):
        return None
    near = dict.fromkeys(by_edge[0, short[0]] + by_edge[-1, short[-1]])
    longer = [f for f in near if len(f) > len(short)
              and (f[:len(short)] == short or f[-len(short):] == short)]
    # keep the longest names only: "Putin" of "Vladimir Putin" and "Vladimir V. Putin"
    maximal = [f for f in longer if not any(len(g) > len(f) and _contains(g, f)
                                            for g in longer)]
    return maximal[0] if len(maximal) == 1 else None


def _contains(long: tuple[str, ...], short: tuple[str, ...]) -> bool:
    return long[:len(short)] == short or long[-len(short):] == short


def _decide_label(group: list[Mention]) -> str:
    ruler = Counter(m.label for m in group if m.source == "ruler")
    if ruler:
        return ruler.most_common(1)[0][0]
    votes: Counter[str] = Counter()
    for m in group:
        votes[m.label] += len(_words(m.text))
    top = max(votes.values())
    tied = [label for label, n in votes.items() if n == top]
    if len(tied) == 1:
        return tied[0]
    longest = max(len(_words(m.text)) for m in group)
    long_labels = Counter(m.label for m in group if len(_words(m.text)) == longest)
    for label, _ in long_labels.most_common():
        if label in tied:
            return label
    return next(m.label for m in group if m.label in tied)


def _canonical(group: list[Mention]) -> str:
    ids = Counter(m.ruler_id for m in group if m.ruler_id and m.ruler_id != RULER_ID)
    if ids:
        return ids.most_common(1)[0][0]
    longest = max(len(_words(m.text)) for m in group)
    forms = Counter(surface(m.text) for m in group if len(_words(m.text)) == longest)
    # most frequent spelling of the longest form; longer characters, then capitalised, first
    return max(forms, key=lambda f: (forms[f], len(f), f[:1].isupper(), -_first_index(group, f)))


def _first_index(group: list[Mention], form: str) -> int:
    return next(i for i, m in enumerate(group) if surface(m.text) == form)


def consistent_entities(mentions: list[Mention], text: str) -> list[Mention]:
    """Trim and merge names, then give each thing one label and canonical name."""
    return resolve(merge_fragments(trim_names(mentions, text), text))


# --- the corpus index ------------------------------------------------------------------------


def build_entity_index(entities: pa.Table, documents: pa.Table) -> pa.Table:
    """``entity_index`` rows from ``entities`` and ``documents`` (doc_id, run_id, processed_at).

    A document processed by several runs counts once, in its latest version; ``first_seen`` and
    ``last_seen`` span every version that mentioned the entity. Rows that name one thing across
    documents share an ``entity_id`` (``tasks.entities.groups``). When ``entities`` has the
    mentions' ``start_char`` and ``end_char`` and ``documents`` a ``clean_text`` (null where no
    acronym can be defined: ``may_define``), the acronyms the texts define join their names.
    """
    if not entities.num_rows or not documents.num_rows:
        return ENTITY_INDEX_V3.empty_table()
    # at call time, not for a circle: the store's package loads Prefect, which annotation and
    # the cleaner's tagger (importing this module through tasks.models) do without
    from store.read import latest_versions

    docs = documents.select(["doc_id", "run_id", "processed_at"])
    spans = [c for c in ("start_char", "end_char") if c in entities.column_names]
    ents = entities.select(["doc_id", "run_id", "canonical", "label", *spans]).join(
        docs, keys=["doc_id", "run_id"], join_type="inner")
    seen = ents.group_by(["canonical", "label"]).aggregate(
        [("processed_at", "min"), ("processed_at", "max")])
    latest = ents.join(latest_versions(docs), keys=["doc_id", "run_id"], join_type="inner")
    current_rows = latest.select(["canonical", "label", "doc_id"])
    current = current_rows.group_by(["canonical", "label"]).aggregate(
        [("doc_id", "count_distinct"), ("doc_id", "count")])
    joined = current.join(seen, keys=["canonical", "label"], join_type="inner")
    in_docs: dict[tuple[str, str], set[str]] = defaultdict(set)
    # once per (name, document), not per mention: Python sees the distinct pairs only
    distinct = current_rows.group_by(["canonical", "label", "doc_id"]).aggregate([])
    for canonical, label, doc_id in zip(*(distinct.column(c).to_pylist()
                                          for c in ("canonical", "label", "doc_id"))):
        in_docs[(canonical, label)].add(doc_id)
    defined = (_definitions(latest, documents)
               if spans and "clean_text" in documents.column_names else {})
    canonicals, labels = (joined.column(c).to_pylist() for c in ("canonical", "label"))
    identity = group_names(
        [Name(c, lab, nd, nm, frozenset(in_docs[(c, lab)])) for c, lab, nd, nm in zip(
            canonicals, labels, joined.column("doc_id_count_distinct").to_pylist(),
            joined.column("doc_id_count").to_pylist())], NAME_LABELS, defined)
    ids = [identity[key] for key in zip(canonicals, labels)]
    index = pa.table({
        "canonical": joined.column("canonical"),
        "label": joined.column("label"),
        "n_documents": joined.column("doc_id_count_distinct"),
        "n_mentions": joined.column("doc_id_count"),
        "first_seen": joined.column("processed_at_min"),
        "last_seen": joined.column("processed_at_max"),
        "entity_id": [x.entity_id for x in ids],
        "entity_canonical": [x.entity_canonical for x in ids],
        "entity_label": [x.entity_label for x in ids],
        "aliases": pa.array([list(x.aliases) for x in ids],
                            ENTITY_INDEX_V3.field("aliases").type),
        "merge_evidence": [x.merge_evidence for x in ids],
        "grouping_version": pa.array([GROUPING_RELEASE] * len(ids), pa.string()),
    }).cast(ENTITY_INDEX_V3)
    return index.sort_by([("n_mentions", "descending"), ("canonical", "ascending"),
                          ("label", "ascending")])


def may_define(entities: pa.Table) -> set[str]:
    """The documents of ``entities`` (doc_id, canonical) whose text may define an acronym: an
    acronym and a name with its letters as initials are both among their names."""
    letters: dict[str, set[str]] = defaultdict(set)
    names: dict[str, set[str]] = defaultdict(set)
    distinct = entities.group_by(["doc_id", "canonical"]).aggregate([])
    for doc_id, canonical in zip(*(distinct.column(c).to_pylist()
                                   for c in ("doc_id", "canonical"))):
        if (found := acronym_letters(canonical)) is not None:
            letters[doc_id].add(found)
        elif (found := initials(canonical)) is not None:
            names[doc_id].add(found)
    return {d for d, found in letters.items() if found & names[d]}


def _definitions(mentions: pa.Table, documents: pa.Table) -> dict[tuple[str, str], frozenset[str]]:
    """(acronym letters, canonical) -> the documents whose clean text defines that name as that
    acronym, from the mentions (doc_id, run_id, canonical, start_char, end_char) of one version
    of each document."""
    import pyarrow.compute as pc

    with_text = documents.filter(pc.is_valid(documents.column("clean_text")))
    texts = {(d, r): t for d, r, t in zip(*(with_text.column(c).to_pylist()
                                            for c in ("doc_id", "run_id", "clean_text")))}
    # only the mentions of documents with a text reach Python (a few in a large corpus)
    mentions = mentions.filter(pc.is_in(mentions.column("doc_id"), with_text.column("doc_id")))
    spans: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    for d, r, c, start, end in zip(*(mentions.column(c).to_pylist() for c in (
            "doc_id", "run_id", "canonical", "start_char", "end_char"))):
        if (d, r) in texts:
            spans[(d, r)].append((start, end, c))
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for version, found in spans.items():
        for pair in find_definitions(texts[version], found):
            out[pair].add(version[0])
    return {pair: frozenset(d) for pair, d in out.items()}
