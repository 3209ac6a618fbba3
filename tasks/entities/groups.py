"""One identity per name across the corpus: which (canonical, label) rows of ``entity_index``
name the same thing ("Zelensky", "Zelenskyy" and "Zelenskiy"; "Kiev" and "Kyiv").

Conservative on purpose (a wrong merge is worse than a missed one). Rows join only within one
label family (people; places = GPE/LOC/FAC; every other label alone), and only by one of:

- ``same name``: equal once case, diacritics, a possessive, a leading "the", full stops and
  hyphens/spaces are ignored ("KYIV" / "Kyiv's", "Kwok-hung" / "Kwok hung", "U.S." / "US"),
  and both capitalised or both not ("state" is not "State");
- ``transliteration``: one word of five letters or more differs by one edit after its first
  letter, and either the edit is a romanisation alternation (i/y/j, a doubled letter: "Zelensky"
  / "Zelenskyy" / "Zelenskiy", "Dmytro" / "Dmitro") or it comes after the first three letters
  and the two names share at least two co-occurring names in the corpus (so "Petersen" /
  "Peterson" in unrelated stories stay apart);
- ``exonym``: both names are one place in ``tasks/entities/exonyms.txt`` ("Kiev" / "Kyiv");
- ``short form``: a one-word PERSON joins the full name it ends ("Zelensky" -> "Volodymyr
  Zelensky", also spelled as a romanisation of it) only when exactly one person in the corpus
  has a full name ending with it, so "Smith" stays alone next to "John Smith" and "Jane
  Smith"; and never when the two are in one document, where the document's own step
  (``entities.resolve``) left them apart ("Inspector Lynley" beside "Peter Lynley");
- ``acronym``: an acronym of 2-6 capitals, dotted or not ("EU", "U.N."), of an organisation,
  place or nationality joins the multiword name of its family whose capitalised words
  (function words such as "of", "the", "and" skipped) start with its letters ("European
  Union", "United Nations") only on strong evidence:
  - a document of the acronym defines it as that name: "the Korean People's Army (KPA)",
    "KPA (the Korean People's Army)", with round or square brackets (``find_definitions``);
  - or the two are together, undefined, in at least two documents (one is not enough: a story
    about the "Bristol Business Council" may quote the "BBC", the broadcaster);
  - and in both cases, where another name of the family has the same initials, the two are
    together in every document of the acronym, and no other such name is beside it;
  - or the full name is the only name in the corpus (any label) with those initials, the two
    are never in one document, share at least two co-occurring names, and the acronym is not a
    common word ("US", "WHO", "HELP") unless it is written with full stops somewhere ("U.S.").
  So "PA" in a story of its own stays apart from both "Palestinian Authority" and "Press
  Association" when the corpus has both.

Every joined row says why in ``merge_evidence``; ``entity_id`` is a hash of the entity's
canonical form and label, so it is stable while that form stays the group's best-attested one.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

# The grouping's release, recorded in every entity_index row it decided (grouping_version): a
# change to a decision below is a new release, and `python -m tasks.entities.index --rebuild`
# brings the rows of earlier runs to it.
GROUPING_RELEASE = "1"
PLACES = frozenset({"GPE", "LOC", "FAC"})
# an edit between these letters (or a doubled letter) is how romanisations differ
_ROMANISATION = frozenset("iyj")
MIN_WORD = 5  # shorter words differ by one letter too often ("Jan" / "Jon")
SHARED_CONTEXT = 2  # co-occurring names that let any other one-letter difference join


@dataclass(frozen=True, slots=True)
class Name:
    """One (canonical, label) row of the corpus and the documents that mention it."""

    canonical: str
    label: str
    n_documents: int
    n_mentions: int
    documents: frozenset[str]


@dataclass(frozen=True, slots=True)
class Identity:
    entity_id: str
    entity_canonical: str
    entity_label: str
    aliases: tuple[str, ...]  # the entity's other forms, sorted
    merge_evidence: str  # why this row is part of the entity ("" for its canonical row)


def family(label: str) -> str:
    return "place" if label in PLACES else label


# --- normalisation: each step named, so the evidence says which ones a pair needed ----------

_POSSESSIVE = re.compile(r"(?:['’]s|['’])$")
_THE = re.compile(r"^the\s+", re.IGNORECASE)
_HYPHENS = re.compile(r"[-‐‑–—\s]+")


def _strip_diacritics(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


_STEPS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("leading 'the'", lambda s: _THE.sub("", s)),
    ("possessive", lambda s: _POSSESSIVE.sub("", s)),
    ("full stops", lambda s: s.replace(".", " ")),
    ("diacritics", _strip_diacritics),
    ("case", str.casefold),
    ("hyphenation/spacing", lambda s: _HYPHENS.sub(" ", s)),
)


def _normalise(s: str, skip: str = "") -> str:
    for name, step in _STEPS:
        if name != skip:
            s = step(s)
    return " ".join(s.split())


def name_key(s: str) -> str:
    """The form two spellings of one name share: "KYIV's" -> "kyiv", "Kwok-hung" -> "kwok hung"."""
    return _normalise(s)


def _compact(key: str) -> str:
    return key.replace(" ", "")


def same_name_evidence(a: str, b: str) -> str:
    """Which normalisations make ``a`` and ``b`` one name, e.g. "case, possessive"."""
    needed = [name for name, _ in _STEPS
              if _compact(_normalise(a, skip=name)) != _compact(_normalise(b, skip=name))]
    return ", ".join(needed) or "identical"


# --- transliteration -------------------------------------------------------------------------


def one_edit(a: str, b: str) -> tuple[str, str] | None:
    """The single edit between ``a`` and ``b`` as (removed, added), or None if not one edit."""
    if a == b or abs(len(a) - len(b)) > 1:
        return None
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return (a[i], b[i]) if a[i + 1:] == b[i + 1:] else None
    if len(a) > len(b):
        return (a[i], "") if a[i + 1:] == b[i:] else None
    return ("", b[i]) if a[i:] == b[i + 1:] else None


def _romanisation(a: str, b: str, edit: tuple[str, str], at: int) -> bool:
    """The edit (at index ``at``) is how romanisations differ: i/y/j for one another, or a
    letter doubled ("Ruslan" / "Russlan")."""
    removed, added = edit
    letters = {c for c in (removed, added) if c}
    if letters <= _ROMANISATION:
        return True
    if removed and added:
        return False
    longer, char = (a, removed) if removed else (b, added)
    return longer[at - 1:at] == char or longer[at + 1:at + 2] == char


def transliteration(a: str, b: str) -> tuple[str, bool] | None:
    """(description, is a romanisation alternation) when keys ``a`` and ``b`` differ in one
    word of letters by one edit after its first letter; else None. Any other edit than a
    romanisation must be after the first three letters and before the last (so plurals and
    suffixes, "Frame" / "Frames", "Antarctic" / "Antarctica", are not variants)."""
    wa, wb = a.split(), b.split()
    if len(wa) != len(wb):
        return None
    diff = [(x, y) for x, y in zip(wa, wb) if x != y]
    if len(diff) != 1:
        return None
    x, y = diff[0]
    edit = one_edit(x, y)
    if edit is None or min(len(x), len(y)) < MIN_WORD or not (x.isalpha() and y.isalpha()):
        return None
    at = next((k for k, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
    roman = _romanisation(x, y, edit, at)
    # a romanisation may differ from the second letter on ("Dmytro" / "Dmitro")
    if at < 1 or (not roman and not 3 <= at < min(len(x), len(y)) - 1):
        return None
    removed, added = edit
    what = (f"'{removed}' -> '{added}'" if removed and added
            else f"'{removed or added}' {'dropped' if removed else 'added'}")
    return (f"edit distance 1 ({what}) with shared prefix '{x[:at]}'"
            + (", a romanisation alternation" if roman else ""), roman)


# --- exonyms ---------------------------------------------------------------------------------


@functools.cache
def exonyms() -> dict[str, int]:
    """Compact key of every listed place name -> its line number in ``exonyms.txt`` (beside this
    module)."""
    out = {}
    path = Path(__file__).with_name("exonyms.txt")
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            for name in line.split("|"):
                out[_compact(name_key(name.strip()))] = n
    return out


# --- acronyms --------------------------------------------------------------------------------

ACRONYM_FAMILIES = frozenset({"ORG", "NORP", "place"})
_ACRONYM = re.compile(r"(?:[A-Z]\.?){2,6}")  # "EU", "NATO", "U.N.", "U.S"
# words an acronym leaves out ("Organisation of the Petroleum Exporting Countries" -> OPEC)
FUNCTION_WORDS = frozenset({"of", "the", "and", "for", "&", "a", "an", "in", "on", "at", "to",
                            "de", "du", "des", "del", "della", "la", "le", "les", "el", "los",
                            "las", "da", "di", "do", "dos", "van", "von", "der", "den", "und",
                            "et", "y"})
_CAPITAL_PART = re.compile(r"[-‐‑–—](?=[A-Z])")
_WORD_EDGES = ".,;:!?'\"()[]’‘“”"
COMMON_WORD = 5.5  # wordfreq Zipf (once per ~30,000 words): "US" may be "us", "WHO" "who"
TOGETHER = 2  # documents an acronym and its full name must share when none defines it
# a definition: the acronym in brackets after the name ("Korean People's Army [KPA]"), or the
# name in brackets after the acronym ("KPA (the Korean People's Army)")
_DEFINED_AFTER = re.compile(r"\s*[(\[]\s*((?:[A-Z]\.?){2,6})\s*[)\]]")
_DEFINED_BEFORE = re.compile(r"(?<![\w.])((?:[A-Z]\.?){2,6})\s*[(\[]\s*(?:the\s+)?$")
_CLOSE = re.compile(r"\s*[)\]]")


def _bare(canonical: str) -> str:
    return _POSSESSIVE.sub("", _THE.sub("", canonical.strip()))


def acronym_letters(canonical: str) -> str | None:
    """The letters of an acronym of 2-6 capitals, dotted or not ("the U.N.'s" -> "UN"), or
    None for any other name ("Nato", "AT&T", "G7")."""
    bare = _bare(canonical)
    return bare.replace(".", "") if _ACRONYM.fullmatch(bare) else None


def initials(canonical: str) -> str | None:
    """The acronym a multiword name would have: the first letters of its capitalised words,
    function words skipped ("the United States of America" -> "USA"); None when it has fewer
    than two such words, or a word that is neither capitalised nor a function word ("Ministry
    of energy"), a number or an acronym itself ("U.S. Army" is not "USA")."""
    letters = []
    # a hyphen's capitalised part is a word of its own ("Trans-Pacific"), a lower-case one is not
    # ("Co-operation")
    words = [w for word in _bare(canonical).split() for w in _CAPITAL_PART.split(word)]
    for word in words:
        word = word.strip(_WORD_EDGES)
        if not word or word.casefold() in FUNCTION_WORDS:
            continue
        if not word[:1].isupper() or (len(word) > 1 and word.isupper()) or "." in word:
            return None
        letters.append(_strip_diacritics(word[0]))
    return "".join(letters) if len(letters) >= 2 else None


@functools.cache
def common_word(letters: str) -> bool:
    """Whether an acronym's letters are also a common English word ("US", "WHO", "HELP")."""
    from wordfreq import zipf_frequency  # its word lists load on first use

    return zipf_frequency(letters.lower(), "en") >= COMMON_WORD


def find_definitions(text: str, spans: Iterable[tuple[int, int, str]]
                     ) -> frozenset[tuple[str, str]]:
    """(acronym letters, canonical) for every name of one document that its text defines as an
    acronym; ``spans`` are the document's names as (start, end, canonical), clean-text offsets.
    "the Korean People's Army (KPA)" and "KPA [the Korean People's Army]" define KPA; the
    letters must be the initials of the name as written there."""
    out = set()
    for start, end, canonical in spans:
        wanted = initials(text[start:end])
        if wanted is None:
            continue
        if (after := _DEFINED_AFTER.match(text, end)) is not None:
            letters = after.group(1)
        elif ((before := _DEFINED_BEFORE.search(text, max(0, start - 20), start)) is not None
              and _CLOSE.match(text, end)):
            letters = before.group(1)
        else:
            continue
        if letters.replace(".", "") == wanted:
            out.add((wanted, canonical))
    return frozenset(out)


# --- grouping --------------------------------------------------------------------------------


def group_names(names: Iterable[Name], labels: frozenset[str],
                defined: Mapping[tuple[str, str], frozenset[str]] | None = None,
                cooccurring: Callable[[Name], frozenset[str]] | None = None,
                ahead: Callable[[list[Name]], None] | None = None,
                ) -> dict[tuple[str, str], Identity]:
    """Each (canonical, label) row's entity: id, canonical form, aliases and merge evidence.
    Only rows with one of ``labels`` (names, not numbers or dates) are grouped. ``defined``:
    (acronym letters, canonical) -> the documents whose text defines that name as that acronym
    (``find_definitions``). ``cooccurring``: the other names (canonical forms) mentioned in a
    name's documents, when ``names`` is a part of the corpus (the incremental index asks the
    corpus); by default they are found among ``names``. ``ahead``: told, before it is asked,
    of the names whose co-occurring names one step will ask for, all at once (so that they are
    read in one pass)."""
    names = sorted(names, key=lambda n: (n.canonical, n.label))
    index = {(n.canonical, n.label): i for i, n in enumerate(names)}
    keys = [name_key(n.canonical) for n in names]
    groups = _Groups(names)
    context = _context(names, labels, cooccurring, ahead)
    by_family = _by_family(names, keys, labels)
    for fam, members in by_family.items():
        by_key = _join_same_names(names, keys, fam, members, groups.join)
        # one representative per distinct capitalised key: the other steps compare these
        reps = {k[:-1]: v[0] for k, v in by_key.items() if k.endswith("^")}
        _join_transliterations(keys, reps, context, groups.join)
        if fam == "place":
            _join_exonyms(reps, groups.join)
    if "PERSON" in by_family:
        _join_short_forms(names, keys, by_family["PERSON"], groups.find, groups.join)
    _join_acronyms(names, keys, by_family, defined or {}, context, groups.find, groups.join)
    out = _identities(names, groups)
    assert len(out) == len(index)
    return out


class _Groups:
    """Union-find over the rows of ``names``, with the evidence of every join by row."""

    def __init__(self, names: list[Name]) -> None:
        self.names = names
        self.parent = list(range(len(names)))
        self.evidence: dict[int, list[str]] = defaultdict(list)

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(self, i: int, j: int, why: str) -> None:
        a, b = self.names[i].canonical, self.names[j].canonical
        if i != j:
            text = f"'{a}' ~ '{b}': {why}"
            self.evidence[i].append(text)
            self.evidence[j].append(text)
        self.parent[self.find(i)] = self.find(j)


class _Asked:
    """Co-occurring names asked of ``cooccurring``, by row, each once; ``ahead`` is told of
    the rows a step will ask about before it asks."""

    def __init__(self, names: list[Name], cooccurring: Callable[[Name], frozenset[str]],
                 ahead: Callable[[list[Name]], None] | None) -> None:
        self.names, self.cooccurring, self._ahead = names, cooccurring, ahead
        self.known: dict[int, frozenset[str]] = {}

    def __call__(self, i: int) -> frozenset[str]:
        if i not in self.known:
            self.known[i] = self.cooccurring(self.names[i])
        return self.known[i]

    def ahead(self, rows: Iterable[int]) -> None:
        if self._ahead is not None:
            self._ahead([self.names[i] for i in sorted(set(rows)) if i not in self.known])


def _context(names: list[Name], labels: frozenset[str],
             cooccurring: Callable[[Name], frozenset[str]] | None,
             ahead: Callable[[list[Name]], None] | None = None,
             ) -> Callable[[int], frozenset[str]]:
    """Other names (not numbers or dates) mentioned in the documents of ``names[i]``, by
    ``i``: asked of ``cooccurring`` when given, else found among ``names``; each once."""
    if cooccurring is not None:
        return _Asked(names, cooccurring, ahead)
    in_document: dict[str, list[int]] = defaultdict(list)
    for i, n in enumerate(names):
        if n.label in labels:
            for d in n.documents:
                in_document[d].append(i)

    @functools.cache
    def context(i: int) -> frozenset[str]:
        return frozenset(names[j].canonical for d in names[i].documents
                         for j in in_document[d] if j != i)

    return context


def _by_family(names: list[Name], keys: list[str], labels: frozenset[str]
               ) -> dict[str, list[int]]:
    """The rows to group (a name key, one of ``labels``) by label family, in order."""
    by_family: dict[str, list[int]] = defaultdict(list)
    for i, n in enumerate(names):
        if keys[i] and n.label in labels:
            by_family[family(n.label)].append(i)
    return by_family


def _join_same_names(names: list[Name], keys: list[str], fam: str, members: list[int],
                     join: Callable[[int, int, str], None]) -> dict[str, list[int]]:
    """Rows of one family with one name key join; the rows by key, "^" ending a capitalised
    one (a lower-case form is not a name's spelling: "state" beside "State")."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for i in members:
        by_key[_compact(keys[i])
               + ("" if _THE.sub("", names[i].canonical)[:1].islower() else "^")].append(i)
    for same in by_key.values():
        for j in same[1:]:
            a, b = names[same[0]], names[j]
            why = "same name (" + same_name_evidence(a.canonical, b.canonical) + ")"
            if a.label != b.label:
                why += f", labels {a.label}/{b.label} both {fam}s"
            join(j, same[0], why)
    return by_key


def _join_transliterations(keys: list[str], reps: dict[str, int],
                           context: Callable[[int], frozenset[str]],
                           join: Callable[[int, int, str], None]) -> None:
    """Representatives one transliteration apart join. Candidates are the keys that share
    every word but one and a one-deletion form of that one (exact for one edit, and linear in
    the number of names)."""
    pairs = [(i, j, found) for i, j in _one_edit_pairs({keys[i]: i for i in reps.values()})
             if (found := transliteration(keys[i], keys[j])) is not None]
    if hasattr(context, "ahead"):  # the co-occurring names it will ask for, read at once
        context.ahead(k for i, j, (_, roman) in pairs if not roman for k in (i, j))
    for i, j, (why, roman) in pairs:
        if not roman:
            shared = context(i) & context(j)
            if len(shared) < SHARED_CONTEXT:
                continue
            why += (f", and {len(shared)} co-occurring names in common ("
                    + ", ".join(sorted(shared)[:4]) + ")")
        join(i, j, "transliteration: " + why)


def _join_exonyms(reps: dict[str, int], join: Callable[[int, int, str], None]) -> None:
    """Place representatives that tasks/entities/exonyms.txt lists as one place join."""
    listed: dict[int, list[int]] = defaultdict(list)
    for k, i in reps.items():
        if k in exonyms():
            listed[exonyms()[k]].append(i)
    for line, same in listed.items():
        for j in same[1:]:
            # the evidence names the list where it was when the grouping release was made: a
            # recorded table value, the same until a new release (GROUPING_RELEASE)
            join(j, same[0], f"exonym: one place in tasks/exonyms.txt (line {line})")


def _identities(names: list[Name], groups: _Groups) -> dict[tuple[str, str], Identity]:
    """Every row's identity: its group's best-attested row names the entity."""
    members_of: dict[int, list[int]] = defaultdict(list)
    for i in range(len(names)):
        members_of[groups.find(i)].append(i)
    evidence = groups.evidence
    out: dict[tuple[str, str], Identity] = {}
    for members in members_of.values():
        head = max(members, key=lambda i: _rank(names[i]))
        h = names[head]
        entity_id = hashlib.sha256(f"{h.label}\x1f{h.canonical}".encode()).hexdigest()[:16]
        aliases = tuple(sorted({names[i].canonical for i in members} - {h.canonical}))
        for i in members:
            out[(names[i].canonical, names[i].label)] = Identity(
                entity_id, h.canonical, h.label, aliases,
                "" if i == head and not evidence[i] else "; ".join(dict.fromkeys(evidence[i])))
    return out


def _rank(n: Name) -> tuple:
    """The entity's canonical form: a full name, the most documents and mentions, written in
    mixed case ("Kyiv", not "KYIV"), then the longest."""
    mixed = n.canonical != n.canonical.upper() and n.canonical != n.canonical.lower()
    return (len(n.canonical.split()), n.n_documents, n.n_mentions, mixed, len(n.canonical),
            n.canonical)


def _deletions(word: str) -> set[str]:
    return {word, *(word[:k] + word[k + 1:] for k in range(len(word)))}


def _one_edit_pairs(reps: dict[str, int]) -> Iterable[tuple[int, int]]:
    """Pairs of ``reps`` (key -> index) whose keys may be one edit apart in one word: two words
    one edit apart share a form with at most one letter deleted."""
    index: dict[tuple, list[int]] = defaultdict(list)
    for key, i in reps.items():
        words = key.split()
        for w, word in enumerate(words):
            if len(word) >= MIN_WORD - 1:
                rest = (len(words), w, *words[:w], *words[w + 1:])
                for form in _deletions(word):
                    index[(rest, form)].append(i)
    seen: set[tuple[int, int]] = set()
    for bucket in index.values():
        for p, i in enumerate(bucket):
            for j in bucket[p + 1:]:
                if i != j:
                    seen.add((min(i, j), max(i, j)))
    # in the names' order: the evidence lists joins in the order they were made, and the
    # index's insertion order followed Python's string hashing (it varied from process to
    # process on the same names)
    yield from sorted(seen)


def _join_short_forms(names: list[Name], keys: list[str], people: list[int],
                      find: Callable[[int], int], join: Callable[[int, int, str], None]) -> None:
    """A one-word person joins the one full name in the corpus that ends with it."""
    full_by_last: dict[str, set[int]] = defaultdict(set)  # last word -> entities (roots)
    full_name: dict[int, int] = {}
    for i in people:
        words = keys[i].split()
        if len(words) > 1:
            full_by_last[words[-1]].add(find(i))
            full_name.setdefault(find(i), i)
    last_words: dict[str, set[str]] = defaultdict(set)  # one-deletion form -> last words
    for last in full_by_last:
        for form in _deletions(last):
            last_words[form].add(last)
    documents: dict[int, set[str]] = defaultdict(set)  # entity -> the documents naming it
    for i in people:
        documents[find(i)] |= names[i].documents
    one_word: dict[int, list[int]] = defaultdict(list)  # entity -> its one-word forms
    for i in people:
        words = keys[i].split()
        if len(words) == 1 and len(words[0]) > 1:
            one_word[find(i)].append(i)
    for forms in one_word.values():
        # "Zelenskiy" alone is the surname of "Volodymyr Zelensky" through its variant "Zelensky"
        # (or spelled as a romanisation of it: "Hnatiuk" of "Oleh Hnatyuk")
        owners: dict[int, tuple[int, str]] = {}  # entity -> (a one-word form, how it matches)
        for i in forms:
            near = {last for form in _deletions(keys[i]) for last in last_words.get(form, ())}
            for last in near:
                found = transliteration(keys[i], last) if last != keys[i] else ("", True)
                if found is not None and found[1]:
                    for root in full_by_last[last]:
                        if root not in owners or not found[0]:
                            owners[root] = (i, found[0])
        if len(owners) != 1:
            continue
        root, (i, spelled) = next(iter(owners.items()))
        # where both are in one document, that document's own step (entities.resolve) would
        # have tied them had it been sure ("Inspector Lynley" beside "Peter Lynley"): it stands
        if documents[find(i)] & documents[root]:
            continue
        target = full_name[root]
        join(i, target, f"short form: surname of the full name '{names[target].canonical}'"
                        + (f" (spelled with {spelled})" if spelled else "")
                        + ", the only PERSON in the corpus whose name ends with it, never in "
                          "one document with it")


def _join_acronyms(names: list[Name], keys: list[str], by_family: dict[str, list[int]],
                   defined: Mapping[tuple[str, str], frozenset[str]],
                   context: Callable[[int], frozenset[str]], find: Callable[[int], int],
                   join: Callable[[int, int, str], None]) -> None:
    """An acronym joins the one full name of its family with its letters as initials, when a
    document defines it as that name, when the two are together in documents enough, or when
    nothing else in the corpus could be its full name."""
    initial, named, named_in = _initials(names, keys, by_family)
    for fam in sorted(ACRONYM_FAMILIES & by_family.keys()):
        full, acronyms = _full_names_and_acronyms(names, by_family[fam], initial, find)
        for (root, letters), forms in sorted(acronyms.items()):
            entities = {r: rows for r, rows in full.get(letters, {}).items() if r != find(root)}
            if not entities:
                continue
            docs = frozenset().union(*(names[i].documents for i in forms))
            together = {r: docs & frozenset().union(*(names[i].documents for i in rows))
                        for r, rows in entities.items()}
            together = {r: d for r, d in together.items() if d}
            a = max(forms, key=lambda i: (names[i].n_documents, names[i].canonical))
            if together:
                found = _acronym_beside(names, letters, docs, entities, together,
                                        named_in[(fam, letters)], defined)
            else:
                found = _acronym_alone(names, letters, forms, entities, named[letters], context)
            if found is not None:
                join(a, *found)


def _initials(names: list[Name], keys: list[str], by_family: dict[str, list[int]]
              ) -> tuple[dict[int, str], dict[str, set[str]], dict[tuple[str, str], set[str]]]:
    """The initials of every row that has them, and the names in the corpus with given
    initials (compact keys): in any family, and by (family, initials)."""
    named: dict[str, set[str]] = defaultdict(set)  # initials -> compact keys
    named_in: dict[tuple[str, str], set[str]] = defaultdict(set)  # (family, initials) -> keys
    initial: dict[int, str] = {}
    for fam, members in by_family.items():
        for i in members:
            if (found := initials(names[i].canonical)) is not None:
                initial[i] = found
                named[found].add(_compact(keys[i]))
                named_in[(fam, found)].add(_compact(keys[i]))
    return initial, named, named_in


def _full_names_and_acronyms(names: list[Name], members: list[int], initial: dict[int, str],
                             find: Callable[[int], int],
                             ) -> tuple[dict[str, dict[int, list[int]]],
                                        dict[tuple[int, str], list[int]]]:
    """A family's full names (initials -> entity -> rows) and acronyms ((entity, letters) ->
    rows), by the entities they are part of so far."""
    full: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    acronyms: dict[tuple[int, str], list[int]] = defaultdict(list)
    for i in members:
        if i in initial:
            full[initial[i]][find(i)].append(i)
        elif (letters := acronym_letters(names[i].canonical)) is not None:
            acronyms[(find(i), letters)].append(i)
    return full, acronyms


def _acronym_beside(names: list[Name], letters: str, docs: frozenset[str],
                    entities: dict[int, list[int]], together: dict[int, frozenset[str]],
                    same_initials: set[str], defined: Mapping[tuple[str, str], frozenset[str]],
                    ) -> tuple[int, str] | None:
    """(full name's row, why) for an acronym in documents (``docs``) with full names of its
    letters (``together``: entity -> the documents shared), or None if it is not sure."""
    if len(together) > 1:
        return None  # two full names with its letters beside it: which one?
    r, shared = next(iter(together.items()))
    if len(same_initials) > 1 and shared != docs:
        return None  # another name of its family has its letters: which one elsewhere?
    where = shared & frozenset().union(
        *(defined.get((letters, names[i].canonical), frozenset()) for i in entities[r]))
    # in one document and undefined, the letters may match by accident: the "BBC" quoted in a
    # story about the "Bristol Business Council" is the broadcaster
    if not where and len(shared) < TOGETHER:
        return None
    target = max(entities[r], key=lambda i: (
        len(defined.get((letters, names[i].canonical), frozenset()) & docs),
        len(names[i].documents & docs), names[i].n_documents, names[i].canonical))
    seen, how = (where, "defined") if where else (shared, "together")
    return target, (f"acronym: {letters} = {names[target].canonical} ({how} in "
                    f"{len(seen)} document{'s' * (len(seen) > 1)}"
                    + (f" of the acronym's {len(docs)}" if seen != docs else "")
                    + ")")


def _acronym_alone(names: list[Name], letters: str, forms: list[int],
                   entities: dict[int, list[int]], same_initials: set[str],
                   context: Callable[[int], frozenset[str]]) -> tuple[int, str] | None:
    """(full name's row, why) for an acronym never in one document with a full name of its
    letters, or None if the corpus does not say it is that one."""
    if len(same_initials) > 1 or len(entities) > 1:
        return None  # nothing in the documents, and two names it could stand for
    if common_word(letters) and not any("." in names[i].canonical for i in forms):
        return None  # "US" in capitals may be "us"; "U.S." is an acronym
    (r, rows), = entities.items()
    target = max(rows, key=lambda i: (names[i].n_documents, names[i].canonical))
    in_one = {names[i].canonical for i in (*forms, *rows)}
    shared_names = (frozenset().union(*(context(i) for i in forms))
                    & frozenset().union(*(context(i) for i in rows))) - in_one
    if len(shared_names) < SHARED_CONTEXT:
        return None
    return target, (f"acronym: {letters} = {names[target].canonical} (the only name in "
                    f"the corpus with these initials, never in one document with it, "
                    f"{len(shared_names)} co-occurring name"
                    f"{'s' * (len(shared_names) > 1)} in common: "
                    + ", ".join(sorted(shared_names)[:4]) + ")")
