"""Rule family for repetition loops of machine translation: ``duplicate_word``,
``duplicate_phrase`` and ``duplicate_sentence``.

Every decision comes from evidence and says which: the grammar of the sentence around a double
that can be correct English (``tasks.clean.grammar``), the rest of the document and of the batch
(``tasks.clean.evidence``), and word lists shipped as data (``reduplications.txt``).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from importlib import resources
from itertools import compress, count, repeat
from operator import eq
from typing import TYPE_CHECKING

from tasks.clean.engine import Edit, Flag, check_time
from tasks.clean.evidence import BatchEvidence
from tasks.clean.grammar import Token, tag, tagger_version, token_at
from tasks.clean.registry import RuleSpec

if TYPE_CHECKING:
    from tasks.clean import CleanConfig

# Words whose doubling can be correct English; the sentence's grammar decides each one.
_BE = frozenset("is was are were am be been".split())
_MODALS = frozenset("can will would could should may might must shall does did".split())
_PARTICLES = frozenset("in on up out off over down back around about through by along away".split())
# Prepositions that can end a relative clause before another one starts: "the hotel they stayed
# at at the time" (the particles above are decided with the rest of the grammatical doubles).
_STRANDABLE = frozenset("to at for with from of into onto".split())
_OBJECT_THEN_POSSESSIVE = frozenset({"her", "you"})  # "lent her her car", "told you you were"
GRAMMATICAL_DOUBLES = _BE | _MODALS | _PARTICLES | _OBJECT_THEN_POSSESSIVE | {"had", "that", "do"}
# A free relative ends in a verb that the main verb follows: "what it is is", "whatever is
# understood is understood", "what will be will be".
_FREE_RELATIVE = frozenset("what whatever whoever whichever wherever whenever".split())
# A clause opened by one of these can be the subject of the verb that follows it: "Who he is is a
# mystery", "Where the money is is anyone's guess".
_SUBJECT_CLAUSE = _FREE_RELATIVE | frozenset("who where how why when all".split())
# Phrases that close a free relative begin with a verb: "what will be will be".
_VERBAL = _BE | _MODALS | frozenset({"do", "has", "have", "had"})
# A capitalised double with no evidence in the document or batch is repaired when the word is
# this common in English (wordfreq's Zipf scale: 4 is once per 10^5 words): "Community
# Community", "Olympic Olympic". Rarer words may be names ("Xi Xi", "Cao Cao"): flagged.
COMMON_WORD_ZIPF = 4.2
# A run of this many copies of one word is a decoding loop whatever the word: "Bye Bye Bye Bye"
# is repaired to the idiom's count, a sound word's run ("ha ha ha ha") is flagged. Two or three
# copies of a reduplication or a sound word are English ("ha ha ha", "ho ho ho").
LOOP_COPIES = 4
# Tags of closed-class words and numbers: beside a compound that starts or ends with the same
# word they have their own role ("in in-depth talks", "three three-pointers", "the lead-in in
# March"), unlike a noun doubled into its compound ("the state state-owned bank").
_OWN_ROLE_TAGS = frozenset("IN CD DT TO CC PRP PRP$ RP WDT WP WRB EX MD PDT".split())


_INTERJECTION = "[interjection]"


@cache
def _word_list(name: str) -> tuple[str, ...]:
    """The entries of a shipped list (``tasks/clean/<name>``): lower case, spaces normalised,
    ``#`` comments and blank lines dropped."""
    text = resources.files("tasks.clean").joinpath(name).read_text("utf-8")
    return tuple(" ".join(line.split("#", 1)[0].lower().split()) for line in text.splitlines()
                 if line.split("#", 1)[0].strip())


@cache
def default_exceptions() -> frozenset[str]:
    """Reduplicated names and words kept as they are ("Bora Bora"), from the shipped list."""
    return frozenset(e for e in _word_list("reduplications.txt") if not e.endswith(_INTERJECTION))


@cache
def interjections() -> frozenset[str]:
    """Doubles kept only where the tagger reads them as an interjection ("Well well, ...")."""
    return frozenset(e.removesuffix(_INTERJECTION).strip() for e in _word_list("reduplications.txt")
                     if e.endswith(_INTERJECTION))


@cache
def sound_words() -> frozenset[str]:
    """Interjections and sound words English doubles on purpose ("ha ha", "tick tick")."""
    return frozenset(_word_list("sound_words.txt"))


@cache
def word_names() -> frozenset[str]:
    """Given names that are also words ("Hope", "May", "Will"), from the shipped list."""
    return frozenset(_word_list("word_names.txt"))


@cache
def phrasal_verbs() -> frozenset[str]:
    """"sign in", "carry on": verb (lemma) and particle, from the shipped list."""
    return frozenset(_word_list("phrasal_verbs.txt"))


@cache
def _phrasal_heads(particle: str) -> frozenset[str]:
    """The verbs (lemmas) that take ``particle``: "sign", "log", ... for "in"."""
    return frozenset(p.split()[0] for p in phrasal_verbs() if p.endswith(f" {particle}"))


@cache
def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency  # its word lists load on first use

    return zipf_frequency(word, "en")


_WORD = r"[^\W_]+(?:['\u2019][^\W_]+)?"
# the same word twice (case-insensitive back-reference), separated by spaces or tabs only; the
# second copy may carry a possessive ("this week week's vote")
_DOUBLE = re.compile(
    rf"(?<![\w'\u2019-])({_WORD})([ \t]+)(\1)((?:['\u2019]s)?)(?![\w'\u2019-])", re.I)
# "XR-XR-XR", "co-co-co-operation": one part repeated across hyphens
_HYPHEN_CHAIN = re.compile(r"(?<![\w-])([^\W_]+)((?:-\1)+)(?=(-[^\W_])|(?![\w-]))", re.I)


class _Doubles(list):
    """A text's doubles (``_DOUBLE`` matches), with how many there are of each word."""

    @cached_property
    def counts(self) -> Counter[str]:
        """Doubles by word (lower case), counted once: a count per decision made a text of n
        capitalised doubles cost n²."""
        return Counter(m.group(1).lower() for m in self)


def _doubles(text: str, repeated: set[str]) -> _Doubles:
    """``_DOUBLE`` matches, looked for only where a repeated word occurs (much faster than a scan
    of the whole text, which tries the pattern at every character)."""
    low = _lower(text)
    if len(low) != len(text):  # lower() changed offsets ("\u0130"): scan it all
        return _Doubles(_DOUBLE.finditer(text))
    found: dict[int, re.Match[str]] = {}
    for word in repeated:
        pos = low.find(word)
        while pos >= 0:
            m = _DOUBLE.match(text, pos)
            if m is not None:
                found[pos] = m
            pos = low.find(word, pos + 1)
    out = _Doubles()
    for pos in sorted(found):
        if not out or pos >= out[-1].end():
            out.append(found[pos])
    return out


_SENTENCE_BREAK = re.compile(r"[.!?][\u201d\u2019\"')\]]*\s+|\n")


_NEXT_WORD = re.compile(rf"[ \t]+({_WORD})(?![\w'\u2019-])")


class _Runs:
    """The runs of copies of a word that doubles start ("till till till"), each walked once: the
    doubles inside a run of n copies (n/2 of them) all end where it ends, and walking it again
    from each of them made a loop of n copies cost n²."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.word, self.end = "", -1
        self.starts: list[int] = []  # where each copy of the last run walked starts

    def after(self, m: re.Match[str]) -> tuple[int, int]:
        """(end of the run the double ``m`` starts, copies in it from ``m`` on)."""
        if m.group(4):
            return m.end(), 2
        word = m.group(1).lower()
        if word == self.word and m.start() < self.end:  # a double inside the run walked last
            k = bisect_left(self.starts, m.start(1))
            if k < len(self.starts) and self.starts[k] == m.start(1):
                return self.end, len(self.starts) - k
        starts, end = [m.start(1), m.start(3)], m.end()
        while ((nxt := _NEXT_WORD.match(self.text, end)) is not None
               and nxt.group(1).lower() == word):
            starts.append(nxt.start(1))
            end = nxt.end()
            if not len(starts) % 1024:
                check_time()
        self.word, self.end, self.starts = word, end, starts
        return end, len(starts)


_ANY_WORD = re.compile(rf"(?<![\w'-])({_WORD})(?![^\W_])")


@lru_cache(maxsize=4)
def _word_counts(text: str) -> Counter[str]:
    """How often each word (lower case) stands alone in the text."""
    return Counter(_ANY_WORD.findall(_lower(text)))


# a double that touches a hyphenated compound: "the state state-owned company", "anti-personnel
# personnel mines" (no English word is written both ways side by side)
_INTO_COMPOUND = re.compile(r"(?<![\w'\u2019-])([^\W\d_]+)[ \t]+(\1)-[^\W_]", re.I)
_OUT_OF_COMPOUND = re.compile(r"[^\W_]-([^\W\d_]+)[ \t]+(\1)(?![\w'\u2019-])", re.I)


def _hyphen_windows(text: str) -> list[tuple[int, int]]:
    """Spans around hyphenated tokens where a part repeats a part or a neighbour ("XR-XR",
    "state state-owned"): the only places the backtracking hyphen patterns can match."""
    keys: set[str] = set()
    joined = _joined_for_checks(text)
    p = joined.find(b"-")
    while p >= 0:
        s = joined.rfind(b" ", 0, p) + 1
        e = joined.find(b" ", p)
        e = len(joined) if e < 0 else e
        parts = joined[s:e].split(b"-")
        prev = joined[joined.rfind(b" ", 0, max(s - 1, 0)) + 1:max(s - 1, 0)]
        nxt_end = joined.find(b" ", e + 1)
        nxt = joined[e + 1:len(joined) if nxt_end < 0 else nxt_end]
        if (any(a and a == b for a, b in zip(parts, parts[1:])) or (parts[0] and parts[0] == prev)
                or (parts[-1] and parts[-1] == nxt)):
            keys.add(joined[s:e].decode("utf-8", "surrogatepass"))
        p = joined.find(b"-", e)
    if not keys:
        return []
    low = _lower(text)
    if len(low) != len(text):
        return [(0, len(text))]
    windows: list[tuple[int, int]] = []
    for key in keys:
        pos = low.find(key)
        while pos >= 0:
            # out to whitespace, so that no word is cut where a pattern looks for its end
            lo = max(low.rfind(" ", 0, max(0, pos - 60)), low.rfind("\n", 0, max(0, pos - 60)), 0)
            hi = min((x for x in (low.find(" ", pos + len(key) + 60),
                                  low.find("\n", pos + len(key) + 60)) if x >= 0), default=len(low))
            windows.append((lo, hi))
            pos = low.find(key, pos + 1)
    return windows


def _matches(pattern: re.Pattern[str], text: str,
             windows: list[tuple[int, int]]) -> list[re.Match[str]]:
    found: dict[int, re.Match[str]] = {}
    for lo, hi in windows:
        for m in pattern.finditer(text, lo, hi):
            found.setdefault(m.start(), m)
    return [found[k] for k in sorted(found)]


def _sentence_around(text: str, start: int, end: int, reach: int = 300) -> tuple[int, int]:
    """The sentence (at most ``reach`` characters either side) that holds ``text[start:end]``."""
    lo = max(0, start - reach)
    s = lo
    for m in _SENTENCE_BREAK.finditer(text, lo, start):
        s = m.end()
    m = _SENTENCE_BREAK.search(text, end, min(len(text), end + reach))
    return s, (m.end() if m else min(len(text), end + reach))


@dataclass(frozen=True, slots=True)
class _Context:
    """The tokens around the kept copy, as the sentence reads with the double undone."""

    before: Token | None
    word: Token | None
    after: Token | None
    after_content: Token | None = None  # the next word that is not an adverb or "not"


def _context(text: str, m: re.Match[str]) -> _Context:
    s, e = _sentence_around(text, m.start(), m.end())
    # The model's embedding sees four tokens either side of a word, so a few words either side
    # give the words next to the double the tags the whole sentence would; the tagger's cost is
    # per token (about 0.1 ms here), so the window is kept that small.
    before = _WORDS_BEFORE.search(text, s, m.start())
    after = _WORDS_AFTER.match(text, m.end(), e)
    s = before.start() if before else s
    e = after.end() if after else e
    undone = text[s:m.end(1)] + text[m.end(3):e]
    tokens = tag(undone)
    i = token_at(tokens, m.start(1) - s)
    if i is None:
        return _Context(None, None, None)
    after_content = next((t for t in tokens[i + 1:] if t.pos not in ("ADV", "PART")), None)
    return _Context(tokens[i - 1] if i else None, tokens[i],
                    tokens[i + 1] if i + 1 < len(tokens) else None, after_content)


_WORDS_BEFORE = re.compile(r"(?:\S+\s+){1,6}$")
_WORDS_AFTER = re.compile(r"(?:\s+\S+){1,6}")
_CLAUSE_MARKS = ",;:.!?()\n\u201c\u201d\""


def _clause_before(text: str, start: int) -> str:
    """The clause's text in the 60 characters before ``start``: what the regex
    ``[^,;:.!?()\n\u201c\u201d"]{0,60}$`` finds there (its "$" also matches before a final
    newline), found with rfind instead of trying the pattern at each of the 60 positions."""
    seg = text[max(0, start - 60):start]
    if seg.endswith("\n"):
        seg = seg[:-1]
    return seg[max(map(seg.rfind, _CLAUSE_MARKS)) + 1:]


def _clause_opener(text: str, start: int, openers: frozenset[str], words: int) -> str | None:
    """The last of ``openers`` among the ``words`` words before ``start``, in the same clause:
    the word that opens a clause the double may close ("Who he is is", "whoever wins wins")."""
    hit = [w for w in _clause_before(text, start).lower().split()[-words:] if w in openers]
    return hit[-1] if hit else None


def grammar_decision(low: str, text: str, m: re.Match[str]) -> tuple[bool, str]:
    """(keep, why) for a double of a word that can be doubled in correct English. Only the
    decisions that need tags run the tagger."""
    relative = _clause_opener(text, m.start(), _SUBJECT_CLAUSE, 6)
    if relative and (low in _BE or low in _MODALS or low == "do"):
        return True, f"'{low} {low}' closes a clause opened by {relative!r} ('what it is is')"
    if low in _BE or (low in _MODALS and low != "can"):
        return False, f"'{low} {low}' with no clause that would close here: a doubled verb"
    after = _word_after(text, m.end())
    adverb = after.endswith("ly") or after in _ADVERBS  # "had had already signed": look further
    if low == "had" and not adverb and (after in _NOUN_PHRASE_STARTS
                                        or not _maybe_participle(after)):
        return True, (f"'had had' before {after!r}, which is no participle: the past perfect "
                      f"of 'have' ('had had enough', 'had had talks')")
    before = _word_before(text, m.start())
    if low == "that" and before in _PREPOSITIONS:
        return True, (f"'that that' after {before!r}: the pronoun 'that', then a relative "
                      f"clause ('things like that that you have to do')")
    if low == "that" and (after in _NOUN_PHRASE_STARTS - _DEMONSTRATIVE_FOLLOWERS
                          or after in _SUBJECT_PRONOUNS):
        return False, f"'that that' before {after!r}: a doubled 'that'"
    if low == "that" and before in _THAT_CLAUSE_TAKERS:
        return True, (f"'that that' after {before!r}: the conjunction, then the demonstrative "
                      f"('said that that plan failed')")
    if low in _PARTICLES and (why := _preposition_kept(text, m)):
        return True, why
    if low in _PARTICLES and not _maybe_phrasal(before, low) and before not in _PARTICLES:
        return False, f"'{low} {low}' after {before!r}: a doubled preposition"
    if low == "can" and before in _DETERMINERS:
        return True, f"'can can' after {before!r}: the noun 'can', then the modal"
    return _tagged_decision(low, _context(text, m))


_WORD_BEFORE = re.compile(r"([^\W\d_]+)['\u2019]?\s*$")


_WORD_AFTER = re.compile(r"\s*[\u201c\"]?([^\W_]+)")
# words that start a noun phrase (or "to"): "had had" before them is the past perfect of "have"
_NOUN_PHRASE_STARTS = frozenset(
    "a an the no some any enough to many much several his her their its our my your this that "
    "these those one two three four five six seven eight nine ten more less little few".split())


# after "that that", these can follow the demonstrative "that" ("that that one", "that that much")
_DEMONSTRATIVE_FOLLOWERS = frozenset("one two three four five six seven eight nine ten more less "
                                     "little few much many".split())
_DETERMINERS = frozenset("the a this that every each my his her our their your its".split())
_SUBJECT_PRONOUNS = frozenset("i you he she it we they there".split())
_PREPOSITIONS = frozenset("like about of with for from than on at by into after before over "
                          "all".split())
_ADVERBS = frozenset("already not never also just long since recently previously always still "
                     "even once ever often".split())
# words that take a "that" clause: after them, "that that" is the conjunction then "that"
_THAT_CLAUSE_TAKERS = frozenset(
    "said say says argued argue argues hope hoped hopes believe believed believes think thought "
    "know knew knows noted added warned claimed insisted stressed learned found showed suggested "
    "agreed announced reported confirmed denied admitted feared expected acknowledged "
    "important clear likely possible true sure certain".split())
_IRREGULAR_PARTICIPLES = frozenset(
    "been done gone made seen taken given known left met won sent told said found brought "
    "thought bought built held kept lost paid put read run set shown spent spoken stood taught "
    "understood written begun broken chosen driven eaten fallen forgotten grown hidden risen "
    "shaken stolen sworn thrown worn become come cut hit hurt let quit shut spread sold got "
    "gotten fought caught heard led meant sat slept struck won felt fled".split())


def _maybe_participle(word: str) -> bool:
    """Could ``word`` be a past participle ("warned", "taken")? A cheap superset of the tagger."""
    return word.endswith(("ed", "en", "wn", "ne")) or word in _IRREGULAR_PARTICIPLES


def _word_after(text: str, end: int) -> str:
    m = _WORD_AFTER.match(text, end)
    return m.group(1).lower() if m else ""


def _word_before(text: str, start: int) -> str:
    m = _WORD_BEFORE.search(text, max(0, start - 40), start)
    return m.group(1).lower() if m else ""


_IRREGULAR = {"went": "go", "gone": "go", "came": "come", "gave": "give", "given": "give",
              "broke": "break", "broken": "break", "grew": "grow", "grown": "grow", "ran": "run",
              "stood": "stand", "held": "hold", "kept": "keep", "caught": "catch", "took": "take",
              "taken": "take", "fought": "fight", "got": "get", "sent": "send", "sold": "sell",
              "found": "find", "brought": "bring", "slept": "sleep", "sank": "sink",
              "sunk": "sink", "dug": "dig", "threw": "throw", "thrown": "throw", "shut": "shut",
              "fell": "fall", "fallen": "fall", "let": "let", "put": "put", "set": "set",
              "cut": "cut", "hit": "hit", "paid": "pay", "laid": "lay", "stuck": "stick"}


def _maybe_phrasal(word: str, particle: str) -> bool:
    """Could ``word`` be a form of a verb that takes ``particle`` ("signed" + "in")? A cheap
    superset of what the tagger and lemmatizer decide, so most doubles need no tagger."""
    verbs = _phrasal_heads(particle)
    stems = {word, _IRREGULAR.get(word, word)}
    for suffix in ("s", "es", "ed", "d", "ing"):
        if word.endswith(suffix):
            stem = word[:-len(suffix)]
            stems |= {stem, stem + "e", stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] else stem}
    return bool(stems & verbs)


def _tagged_decision(low: str, ctx: _Context) -> tuple[bool, str]:
    nxt, prev, word = ctx.after_content or ctx.after, ctx.before, ctx.word
    nxt_desc = f"{nxt.text!r} ({nxt.tag})" if nxt else "the end of the sentence"
    prev_desc = f"{prev.text!r} ({prev.tag})" if prev else "the start of the sentence"
    if low == "had":
        if nxt and nxt.tag in ("VBN", "VBD"):
            return False, f"'had had' before the participle {nxt_desc}: one 'had' too many"
        return True, f"'had had' before {nxt_desc}: the past perfect of 'have'"
    if low == "that":
        nxt = ctx.after
        nxt_desc = f"{nxt.text!r} ({nxt.tag})" if nxt else "the end of the sentence"
        if nxt and (nxt.pos in ("NOUN", "PROPN", "ADJ", "NUM") or nxt.tag == "PRP$"
                    or nxt.text.lower() in ("one", "ones")):
            return True, f"'that that' before {nxt_desc}: 'that', then the determiner 'that'"
        if nxt and nxt.pos in ("VERB", "AUX") and prev and prev.pos in ("VERB", "AUX"):
            return True, (f"'that that' after the verb {prev_desc}, before {nxt_desc}: the "
                          f"conjunction, then the pronoun ('said that that was')")
        return False, f"'that that' after {prev_desc}, before {nxt_desc}: a doubled 'that'"
    if low in _OBJECT_THEN_POSSESSIVE:
        if prev and prev.pos == "VERB":
            return True, f"'{low} {low}' after the verb {prev_desc}: an object, then a possessive"
        return False, f"'{low} {low}' after {prev_desc}: no verb takes two objects here"
    if low in _PARTICLES:
        if prev and prev.pos == "VERB" and f"{prev.lemma} {low}" in phrasal_verbs():
            return True, (f"'{low} {low}' after {prev_desc}: the phrasal verb "
                          f"'{prev.lemma} {low}', then a preposition")
        if prev and prev.tag == "RP":
            return True, (f"'{low} {low}' after the particle {prev_desc}: a stranded "
                          f"preposition, then another ('the town they grew up in in 1970')")
        return False, f"'{low} {low}' after {prev_desc}: a doubled preposition"
    if low == "can" and word and word.pos == "NOUN":
        return True, f"'can can' read as the noun 'can' after {prev_desc}"
    if low == "do" and nxt and nxt.pos in ("DET", "PRON", "NOUN", "PROPN", "NUM", "ADJ"):
        return True, f"'do do' before {nxt_desc}: the auxiliary, then the verb"
    return False, f"'{low} {low}' with no clause that would close here: a doubled verb"


def _preposition_kept(text: str, m: re.Match[str]) -> str | None:
    """Why a doubled preposition is English, by the tagger's reading of the sentence as written:
    stranded at the end of a relative clause ("the towns they had moved to to find work", "the
    hotel they stayed at at the time"), or the particle of a phrasal verb after its object
    ("hand their forms in in person")."""
    low = m.group(1).lower()
    before = _clause_before(text, m.start()).lower().split()[-6:]
    if not (_SUBJECT_PRONOUNS & set(before) or any(_maybe_phrasal(w, low) for w in before)):
        return None  # neither shape can hold (no subject, no phrasal verb): no tagger needed
    s, _ = _sentence_around(text, m.start(), m.end(), reach=200)
    tokens = tag(text[s:m.end()])
    i = token_at(tokens, m.start(1) - s)
    if i is None or i < 2:
        return None
    j = i - 1
    if tokens[j].pos == "VERB":
        k = j - 1
        while k >= 0 and tokens[k].pos in ("AUX", "ADV", "PART"):
            k -= 1
        if k >= 1 and tokens[k].tag == "PRP" and tokens[k - 1].pos in ("NOUN", "PROPN"):
            return (f"'{m.group(1)} {m.group(3)}' after {tokens[k - 1].text!r} "
                    f"{tokens[k].text!r} ... {tokens[j].text!r}: a preposition stranded at the "
                    f"end of a relative clause, then another")
        return None
    for k in range(j, max(-1, j - 5), -1):  # an object of at most four words, then the verb
        if tokens[k].pos == "VERB":
            if f"{tokens[k].lemma} {low}" in phrasal_verbs() and k < j and not re.match(
                    r"\s+(?:the|a|an|this|that|these|those|his|her|their|our|my|your|its)\b",
                    text[m.end():m.end() + 8], re.I):  # "in in a locked box": a place, doubled
                return (f"'{low} {low}' after {tokens[k].text!r} and its object: the phrasal "
                        f"verb '{tokens[k].lemma} {low}', then a preposition")
            return None
        if tokens[k].pos not in ("DET", "PRON", "ADJ", "NOUN", "PROPN", "NUM"):
            return None
    return None


def _tag_at(text: str, pos: int) -> Token | None:
    """The tagger's reading of the word at ``pos``, in its sentence as written."""
    s, e = _sentence_around(text, pos, pos + 1, reach=200)
    tokens = tag(text[s:e])
    i = token_at(tokens, pos - s)
    return None if i is None else tokens[i]


def _starts_sentence(text: str, pos: int) -> bool:
    """Is ``pos`` the first word of a sentence (or of a quote that starts one)?"""
    before = text[max(0, pos - 4):pos].rstrip(" \t\u201c\"'(")
    return not before or before[-1] in ".!?\n"


def _own_role(text: str, pos: int) -> bool:
    """Does the word at ``pos``, beside a compound that holds it, play its own closed-class role
    ("in in-depth", "three three-pointers", "lead-in in March")?"""
    word = _tag_at(text, pos)
    return word is not None and word.tag in _OWN_ROLE_TAGS


def _spelled_out(text: str, start: int, end: int) -> bool:
    """Is the double of a letter at ``start:end`` beside another single letter ("e l l e")?"""
    before = text[max(0, start - 3):start]
    after = text[end:end + 3]
    return bool(re.search(r"(?:^|\s)[^\W\d_]\s$", before) or re.match(r"\s[^\W\d_](?:\s|[.,;:!?]|$)", after))


def _runs_into_sentence(text: str, m: re.Match[str]) -> bool:
    """A doubled sound word that opens a sentence with no mark after it, and the sentence goes
    on with no verb that would make it the subject ("Hey hey north direction", unlike "Tick tick
    went the clock" or "Hey hey, look"): English sets a doubled interjection off."""
    if not _starts_sentence(text, m.start()) or not re.match(r"[ \t]+[^\W\d_]", text[m.end():]):
        return False
    nxt = _tag_at(text, m.end() + len(text[m.end():]) - len(text[m.end():].lstrip(" \t")))
    return nxt is not None and nxt.pos not in ("VERB", "AUX")


def _set_off_interjection(text: str, m: re.Match[str]) -> bool:
    """A double that opens a sentence and is set off by a comma or "!" ("Now now, ...", "Wait
    wait!"), read by the tagger as no noun, determiner or pronoun: an interjection."""
    if m.group(4) or not re.match(r"[,!?]", text[m.end():m.end() + 1]):
        return False
    if not _starts_sentence(text, m.start()) or len(m.group(1)) > 5 or m.group(1).endswith("ly"):
        return False  # "However however," "Finally finally,": a linking adverb doubled
    word = _tag_at(text, m.start(1))
    return word is not None and word.pos not in ("NOUN", "PROPN", "DET", "PRON", "NUM", "ADP")


@lru_cache(maxsize=4)
def _form_counts(text: str) -> Counter[str]:
    """How often each word, as written (case kept), stands alone in the text."""
    return Counter(_ANY_WORD.findall(text))


def _case_variant(text: str, m: re.Match[str]) -> Edit | Flag | None:
    """A double whose copies differ in case ("INCEPTION Inception", "lake Lake Tahoe", "hours
    Hours"): the copy the document does not show single is removed; kept when the second copy
    is an acronym after a word ("the first FIRST Robotics"); flagged with no evidence."""
    first, second = m.group(1), m.group(3)
    if second.isupper() and len(second) >= 2 and not first.isupper():
        return None  # a word, then an acronym name written like it ("first FIRST Global")
    if first.islower() and second[0].isupper() and re.match(
            r"[ \t]+(?:(?:of|de|du|la|del|di|von|van)[ \t]+)?[A-Z]", text[m.end():m.end() + 8]):
        lone = _tag_at(text, m.start(1))
        if lone is not None and lone.pos in ("NOUN", "PROPN"):  # "the lake Lake Tahoe": a translated name
            return Edit(m.start(1), m.start(3), "", "duplicate_word",
                        f"{first!r} ({lone.tag}) before the name that begins with {second!r}: "
                        f"the name's translation beside it")
        return None  # "we hope Hope Solo wins": a verb, then a name
    counts = _form_counts(text)
    n1, n2 = counts[first] - 1, counts[second] - 1  # the double's own copies aside
    if n1 == n2 == 0 or (n1 and n2):
        return Flag(m.start(), m.end(), "duplicate_word",
                    f"{first!r} then {second!r}: a word beside a name written like it, or one "
                    f"copy too many? The document shows {'both forms' if n1 else 'neither form'}")
    keep, drop = (first, second) if n1 else (second, first)
    why = (f"{first!r} then {second!r}: the document writes {keep!r} {max(n1, n2)} "
           f"time{'s' * (max(n1, n2) > 1)} single and {drop!r} never")
    if n1:
        return Edit(m.end(1), m.end(3), "", "duplicate_word", why)
    return Edit(m.start(1), m.start(3), "", "duplicate_word", why)


def _word_then_name(text: str, m: re.Match[str], word: Token | None) -> tuple[str, str] | None:
    """A capitalised common word doubled at a sentence's start ("May May said", "Hope Hope
    Solo"): the sentence's own word, then a name that is the same word? Kept when a name
    follows, flagged otherwise."""
    first = m.group(1)
    if re.match(r"[ \t]+[A-Z]", text[m.end():m.end() + 3]):
        return None  # "Hope Hope Solo plays": a word, then the name "Hope Solo"
    read = f" (read {word.tag})" if word else ""
    return ("flag", f"'{first} {first}' opens the sentence: the word {first.lower()!r}{read}, "
                    f"then a name {first!r}, or a doubling?")


@dataclass(frozen=True, slots=True)
class DuplicateWord:
    """Removes a word repeated back to back ("including including") unless the evidence says
    the doubling is right: grammar ("had had enough"), the shipped list of reduplications
    ("Bora Bora"), the document ("Walla Walla" twice, never single) or the batch."""

    exceptions: frozenset[str]
    evidence: BatchEvidence = BatchEvidence()

    def __call__(self, text: str) -> list[Edit | Flag]:
        out: list[Edit | Flag] = []
        windows = _hyphen_windows(text) if "-" in text else []
        if windows:
            out.extend(self._hyphen_chains(text, windows))
            out.extend(self._compound_doubles(text, windows))
        repeated = _repeated_words(text)
        if not repeated:
            return out
        matches = _doubles(text, repeated)
        loop_end = 0
        runs = _Runs(text)
        for i, m in enumerate(matches):
            if not i % 256:
                check_time()
            first, possessive = m.group(1), m.group(4)
            low = first.lower()
            if first.isdigit():
                continue  # "10 10": a score, a list of numbers
            if m.start() < loop_end:
                continue  # inside a loop already decided
            end, copies = runs.after(m)  # each run walked once (linear in its length)
            if copies >= LOOP_COPIES:
                out.append(self._long_loop(text, m, end, copies))
                loop_end = end
                continue
            if f"{low} {low}" in self.exceptions or low in self.exceptions:
                continue
            if low in sound_words() and not _runs_into_sentence(text, m):
                continue  # "she laughed, ha ha", "the clock went tick tick", "ho ho ho"
            if len(first) == 1 and (copies > 2 or _spelled_out(text, m.start(), end)):
                continue  # "s p e l l e d", "A A B C": letters spelled out one by one
            if f"{low} {low}" in interjections():
                ctx = _context(text, m)
                if ctx.word and ctx.word.pos == "INTJ":
                    continue
            if _set_off_interjection(text, m):
                continue  # "Now now, let us be civil", "Wait wait!"
            second = m.group(3)
            if second != first and not (second == first.lower() and first[0].isupper()):
                if (case := _case_variant(text, m)) is not None:
                    out.append(case)
                continue
            if end > m.end():  # three copies of a word English does not repeat: a loop
                out.append(Edit(m.end(1), end, "", "duplicate_word",
                                f"{first!r} {copies} times in a row: a decoding loop"))
                continue
            decision = self._decide(text, m, matches)
            if decision is None:
                continue
            kind, why = decision
            if kind == "flag":
                out.append(Flag(m.start(), m.end(), "duplicate_word", why))
            elif possessive:  # keep the copy with the possessive: "this week's vote"
                out.append(Edit(m.start(1), m.start(3), "", "duplicate_word", why))
            else:
                out.append(Edit(m.end(1), m.end(3), "", "duplicate_word", why))
        return out

    def _decide(self, text: str, m: re.Match[str],
                matches: _Doubles) -> tuple[str, str] | None:
        first, second = m.group(1), m.group(3)
        low = first.lower()
        if low in GRAMMATICAL_DOUBLES and not first[0].isupper():
            keep, why = grammar_decision(low, text, m)
            return None if keep else ("edit", why)
        if low in _STRANDABLE and first.islower() and (why := _preposition_kept(text, m)):
            return None  # "the towns they had moved to to find work"
        if _clause_opener(text, m.start(), _FREE_RELATIVE, 4):
            ctx = _context(text, m)
            if ctx.word and ctx.word.pos in ("VERB", "AUX"):
                return None  # "whoever wins wins": the free relative's verb, then the main verb
        if not (first[0].isupper() and second[0].isupper()):
            if first[0].isupper() and _zipf(low) < 2.5:
                # "Rupicapra rupicapra": a genus and its species, or a doubled rare name
                return ("flag", f"{first!r} then {second!r}: a rare word, a tautonym or a doubling?")
            return ("edit", f"{low!r} doubled back to back")
        return self._decide_capitalised(text, m, matches)

    def _long_loop(self, text: str, m: re.Match[str], end: int, copies: int) -> Edit | Flag:
        """Four or more copies of a word: back to the idiom's count ("bye bye"), flagged for a
        sound word with no set count ("ha ha ha ha"), else one copy."""
        first, low = m.group(1), m.group(1).lower()
        pair = f"{low} {low}"
        if low not in sound_words() and (pair in self.exceptions or low in self.exceptions
                                          or pair in interjections()):
            spans = [w.span() for w in _ANY_WORD.finditer(text, m.start(), end)]
            return Edit(spans[1][1], end, "", "duplicate_word",
                        f"{first!r} {copies} times in a row: a decoding loop of the "
                        f"reduplication '{pair}', cut to its two copies")
        if low in sound_words() or len(first) == 1:  # before the list: "ha ha" has no set count
            return Flag(m.start(), end, "duplicate_word",
                        f"{first!r} {copies} times in a row: a sound word English repeats, "
                        f"or a decoding loop? No count is the idiom's")
        return Edit(m.end(1), end, "", "duplicate_word",
                    f"{first!r} {copies} times in a row: a decoding loop")

    def _decide_capitalised(self, text: str, m: re.Match[str],
                            matches: _Doubles) -> tuple[str, str] | None:
        first = m.group(1)
        low = first.lower()
        if first.isupper() and len(first) >= 2:
            return ("edit", f"the acronym {first!r} doubled (an acronym is not reduplicated)")
        if low in word_names() and _starts_sentence(text, m.start()):
            return _word_then_name(text, m, _tag_at(text, m.start(1)))
        doubled = matches.counts[low]
        single = _word_counts(text)[low] - 2 * doubled
        zipf = _zipf(low)
        common = zipf >= COMMON_WORD_ZIPF
        if doubled >= 2 and doubled > single and not common:
            return None  # kept: the document uses the double as a name
        if single >= 1:
            return ("edit", f"{first!r} occurs {single} time{'s' * (single > 1)} single and "
                            f"{doubled} time{'s' * (doubled > 1)} doubled in this document")
        if low in self.evidence.doubled_names and not common:
            return None  # kept: the batch uses the double as a name in other documents
        if common:
            return ("edit", f"{first!r} is a common English word (Zipf {zipf:.1f}) and "
                            f"'{first} {first}' is not a known name")
        return ("flag", f"repeated capitalised word {first!r}, with no other use of it in the "
                        f"document: a name, or a doubling?")

    def _compound_doubles(self, text: str, windows: list[tuple[int, int]]) -> list[Edit]:
        out = []
        for m in _matches(_INTO_COMPOUND, text, windows):
            if not _own_role(text, m.start(1)):
                out.append(Edit(m.start(1), m.start(2), "", "duplicate_word",
                                f"{m.group(1)!r} doubled into the compound that follows"))
        for m in _matches(_OUT_OF_COMPOUND, text, windows):
            if not _own_role(text, m.start(2)):
                out.append(Edit(m.end(1), m.end(2), "", "duplicate_word",
                                f"{m.group(2)!r} repeated after the compound that ends with it"))
        return out

    def _hyphen_chains(self, text: str, windows: list[tuple[int, int]]) -> list[Edit]:
        out = []
        for m in _matches(_HYPHEN_CHAIN, text, windows):
            copies = 1 + m.group(2).count("-")
            word = m.group(1).lower()
            if copies == 2 and not m.group(3):
                continue  # "so-so", "bye-bye", "Baden-Baden": a reduplication, not a loop
            if f"{word} {word}" in self.exceptions and copies == 2:
                continue
            out.append(Edit(m.end(1), m.end(2), "", "duplicate_word",
                            f"{m.group(1)!r} repeated {copies} times across hyphens"))
        return out


# The cheap checks below split lower-cased UTF-8 on whitespace after dropping punctuation: they
# only decide whether the exact (slower) search runs, and where.
_ASCII_PUNCTUATION = b"!\"#$%&()*+,./:;<=>?@[\\]^_`{|}~"
_QUOTES = ("\u201c", "\u201d", "\u2018", "\u00ab", "\u00bb", "\u201e")


def _lower(text: str) -> str:
    """Lower case with the curly apostrophe as "'" (same length as the text, mostly)."""
    low = text.lower()
    return low.replace("\u2019", "'") if "\u2019" in low else low


@lru_cache(maxsize=8)  # three rules check the same text in a row
def _words_for_checks(text: str) -> list[bytes]:
    low = _lower(text)
    for q in _QUOTES:
        if q in low:
            low = low.replace(q, "")
    return low.encode("utf-8", "surrogatepass").translate(None, _ASCII_PUNCTUATION).split()


def _repeated_words(text: str) -> set[str]:
    """Words (lower case) that the check tokens show back to back (a possessive aside)."""
    words = _words_for_checks(text)
    found = {words[i] for i in compress(count(), map(eq, words, words[1:]))}
    if "'s" in text or "\u2019s" in text or "'S" in text or "\u2019S" in text:
        joined = _joined_for_checks(text)  # "week week's": a word, then it with a possessive
        p = joined.find(b"'s")
        while p >= 0:
            s = joined.rfind(b" ", 0, p) + 1
            word = joined[s:p]
            if word and joined[max(0, s - 1 - len(word)):s - 1] == word and (
                    s - 1 - len(word) == 0 or joined[s - 2 - len(word)] == 32):
                found.add(word)
            p = joined.find(b"'s", p + 2)
    return {w.decode("utf-8", "surrogatepass") for w in found}


@lru_cache(maxsize=8)
def _joined_for_checks(text: str) -> bytes:
    return b" ".join(_words_for_checks(text))


@lru_cache(maxsize=8)
def _has_phrase_repeat(text: str, min_words: int, max_words: int) -> bool:
    words = _words_for_checks(text)
    for k in range(min_words, max_words + 1):
        for i in compress(count(), map(eq, words, words[k:])):
            if words[i:i + k] == words[i + k:i + 2 * k]:
                return True
    return False


_TOKEN = re.compile(r"\S+")
_OPENERS = "\u201c\u2018\"'(["
_SENTENCE_END = re.compile(r"[.!?][\u201d\u2019\"')\]]*$")
_CLOSING = re.compile(r"[,;:.!?)\]\u201d\u2019\"']$")
_TRAILING = re.compile(r"[,;:.!?)\]\u201d\u2019\"']+$")
# "the old town, the old town, the old town", "quiet and quiet": deletion cannot say which
# words were meant; flagged for a person.
_LIST_LOOP = re.compile(r"(?<![\w'\u2019-])([^\W\d_]+(?: [^\W\d_]+){1,5})(?:, \1){2,}(?![\w-])", re.I)
_AND_LOOP = re.compile(
    r"(?<![\w'\u2019-])([^\W\d_]{3,}|(?:the|a|an|this|that|his|her|its|their) [^\W\d_]+)"
    r"(?:, \1,?)* and \1(?![\w'\u2019-])", re.I)


def _and_loop_is_english(word: str, exceptions: frozenset[str]) -> bool:
    """"more and more", "again and again", "faster and faster", "miles and miles"."""
    w = word.lower()
    if " " in w:
        return False  # "the union and the union": one of two names was lost
    return f"{w} and {w}" in exceptions or w.endswith("er") or (
        w.endswith("s") and "," not in word)


def duplicate_phrase(text: str, min_words: int = 2, max_words: int = 6,
                     exceptions: frozenset[str] = frozenset()) -> list[Edit | Flag]:
    """Removes a run of 2-6 words repeated back to back ("in the direction in the direction"),
    also at a clause end ("in her view her view."); flags loops deletion cannot repair."""
    out: list[Edit | Flag] = []
    if ", " in text or " and " in text:
        out.extend(_loops(text, exceptions))
    if not _has_phrase_repeat(text, min_words, max_words):
        return out
    tokens = [(m.start(), m.end(), m.group().lower()) for m in _TOKEN.finditer(text)]
    # an opening quote or bracket on the first copy only ("“fighting the last fighting the last")
    words = [t[2].lstrip(_OPENERS) or t[2] for t in tokens]
    i, n = 0, len(words)
    while i < n:
        w = words[i]
        for k in range(min_words, max_words + 1):
            if i + 2 * k > n or words[i + k] != w:
                continue  # here, not in _phrase_repeat: most positions cost no call
            edit = _phrase_repeat(text, tokens, words, i, k, exceptions)
            if edit is not None:
                out.append(edit)
                i += 2 * k
                break
        else:
            i += 1
    return out


Word = tuple[int, int, str]  # (start, end, lower-cased text) of a word of the text


def _phrase_repeat(text: str, tokens: list[Word], words: list[str], i: int, k: int,
                   exceptions: frozenset[str]) -> Edit | None:
    """The edit that removes the second copy of the ``k`` words at word ``i`` (the word ``k``
    on, within the text, is the same), if they are all repeated right after and the repeat is
    no English of its own."""
    first, second = words[i:i + k], words[i + k:i + 2 * k]
    # the second copy may end a clause: "in her view her view."
    tail = _TRAILING.search(second[-1])
    last = second[-1][:tail.start()] if tail else second[-1]
    if first[:-1] != second[:-1] or first[-1] != last or not last:
        return None
    copy = tokens[i:i + 2 * k]
    if copy[k][2][0] in _OPENERS:
        return None  # deleting the second copy would delete its quote
    gap = text[copy[k - 1][1]:copy[k][0]]
    if (gap != " " * len(gap) or any(_CLOSING.search(x) for x in first)
            or any(not x.strip("-\u2013\u2014") for x in first)):  # "girls -- --"
        return None  # across a line, or with punctuation inside: a list or emphasis
    if _no_phrase(first, exceptions) or _phrase_kept(text, tokens, words, i, k):
        return None
    end = copy[2 * k - 1][1] - (len(tail.group()) if tail else 0)
    return Edit(copy[k - 1][1], end, "", "duplicate_phrase",
                f"{' '.join(first)!r} ({k} words) repeated back to back")


def _no_phrase(first: list[str], exceptions: frozenset[str]) -> bool:
    """Is a repeated run of these words no phrase to remove (or a shipped idiom)?"""
    if len(set(first)) == 1:
        return True  # one word over and over: duplicate_word removes the whole run
    if all(len(x) == 1 for x in first):
        return True  # letters spelled out one by one ("m i s s i s s i p p i")
    if f"{' '.join(first)} {' '.join(first)}" in exceptions:
        return True  # "call a spade a spade": a shipped idiom
    return all(not any(c.isalpha() for c in x) for x in first)  # numbers, symbols ("1 2 1 2")


def _phrase_kept(text: str, tokens: list[Word], words: list[str], i: int, k: int) -> bool:
    """Is the repeat of the ``k`` words at word ``i`` English, by the words around it?"""
    n = len(words)
    first = words[i:i + k]
    before = words[i - 1] if i else ""
    if before in _FREE_RELATIVE and k <= 3 and first[0] in _VERBAL:
        return True  # "what will be will be", "whatever is understood is understood"
    if k == 2 and first[0] == "as" and _TRAILING.sub("", words[i + 4] if i + 4 < n else "") in (
            "can", "could", "gets", "get", "be", "may", "might"):
        return True  # "as cold as cold can be"
    if k == 2 and first[0] == "as" and i + 4 < n and _starts_noun_phrase(
            text, tokens[i + 3][0], tokens[i + 4][0]):
        return True  # "as tall as Tall Oaks", "as bad as bad weather": a noun phrase
    if k == 2 and _noun_preposition_noun(text, tokens[i][0], tokens[i + 1][0],
                                         tokens[i - 1][0] if i else None):
        return True  # "hand in hand in the park", "side by side by the river"
    after = words[i + 2 * k] if i + 2 * k < n else ""
    # "long and long and long": a loop deletion cannot repair (flagged)
    return k == 2 and ((first[0] in ("and", "or") and before == first[1])
                       or (first[1] in ("and", "or") and _TRAILING.sub("", after) == first[0]))


def _starts_noun_phrase(text: str, word: int, nxt: int) -> bool:
    """Does the word at ``word`` start a noun phrase that goes on at ``nxt`` ("as bad as *bad
    weather*"), by the tagger's reading of the sentence as written?"""
    if _CLOSING.search(text[word:nxt].rstrip()):
        return False  # "as bad as bad." : no noun phrase goes on after a mark
    second, after = _tag_at(text, word), _tag_at(text, nxt)
    return (second is not None and after is not None and after.pos in ("NOUN", "PROPN")
            and second.pos in ("ADJ", "NOUN", "PROPN") and after.text.lower() != "as")


def _noun_preposition_noun(text: str, noun: int, prep: int, before: int | None) -> bool:
    """"hand in hand", "step by step": a bare singular noun, a preposition, the same noun (the
    construction English makes of any noun), here followed by the same preposition again."""
    if text[prep:prep + 8].split(" ", 1)[0].lower() not in _PREPOSITIONS | {"in", "to", "upon"}:
        return False  # no preposition (a closed class): no tagger needed
    if before is not None and text[before:noun].strip().lower() in _DETERMINERS:
        return False
    n, p = _tag_at(text, noun), _tag_at(text, prep)
    if n is None or p is None or n.tag != "NN" or p.tag not in ("IN", "TO"):
        return False
    b = _tag_at(text, before) if before is not None else None
    # a bare noun: after a verb, a preposition or a mark, not inside a noun phrase ("a
    # corrections officer for officer for 25 years")
    return b is None or b.pos in ("VERB", "AUX", "ADP", "ADV", "PUNCT", "CCONJ", "SCONJ")


def _loop_suspects(text: str) -> tuple[bool, bool]:
    """(a phrase three times in a row, a word or two joined to itself by "and"), looked for in
    the cheap check tokens: the loop patterns backtrack, so they run only when these say so."""
    words = _words_for_checks(text)
    n = len(words)
    # three copies in a row hold two in a row, which the cheaper (cached) check looks for
    listed = _has_phrase_repeat(text, 2, 6) and any(words[i:i + k] == words[i + k:i + 2 * k] == words[i + 2 * k:i + 3 * k]
                 for k in range(2, 7) for i in compress(count(), map(eq, words, words[k:]))
                 if i + 3 * k <= n)
    joined = any(0 < i < n - 1 and (words[i - 1] == words[i + 1]
                                    or words[i - 2:i] == words[i + 1:i + 3])
                 for i in compress(count(), map(eq, words, repeat(b"and"))))
    return listed, joined


def _loops(text: str, exceptions: frozenset[str]) -> list[Flag]:
    out: list[Flag] = []
    listed, joined = _loop_suspects(text)
    if not (listed or joined):
        return out
    for m in _LIST_LOOP.finditer(text) if listed else ():
        copies = m.group().count(", ") + 1
        out.append(Flag(m.start(), m.end(), "duplicate_phrase",
                        f"{m.group(1)!r} repeated {copies} times with commas between: a decoding "
                        f"loop or a chant? Deletion cannot tell which words were meant"))
    for m in _AND_LOOP.finditer(text) if joined else ():
        listed = ", " in m.group()  # "paintings, paintings and paintings"
        if not listed and " " not in m.group(1) and (verb := _tag_at(text, m.start(1))) and (
                verb.pos == "VERB"):
            continue  # "he looked and looked and looked": a verb repeated for duration
        if listed or not _and_loop_is_english(m.group(1), exceptions):
            out.append(Flag(m.start(), m.end(), "duplicate_phrase",
                            f"{m.group()!r}: words joined to themselves, not an English idiom "
                            f"('more and more'); what was meant is lost"))
    return out


@dataclass(frozen=True, slots=True)
class DuplicatePhrase:
    exceptions: frozenset[str]

    def __call__(self, text: str) -> list[Edit | Flag]:
        return duplicate_phrase(text, exceptions=self.exceptions)


_CHUNK = re.compile(r"[^.!?\n]+")
_SENTENCE = re.compile(r"[^\s].*?(?:[.!?]+[\u201d\u2019\"')\]]*(?=\s|\Z)|\Z|(?=\n))", re.S)


def duplicate_sentence(text: str, min_words: int = 4) -> list[Edit]:
    """Removes a sentence (or paragraph) repeated back to back, an NMT decoding loop."""
    if text.count(".") + text.count("!") + text.count("?") < 2:
        return []
    # a sentence repeated back to back repeats the stretch before one of its marks or line ends
    chunks = [c for c in map(str.strip, _CHUNK.findall(text)) if " " in c]
    if len(set(chunks)) == len(chunks):
        return []
    sents = [(m.start(), m.end(), m.group()) for m in _SENTENCE.finditer(text)]
    edits: list[Edit] = []
    for (_, e0, a), (s1, e1, b) in zip(sents, sents[1:]):
        if a == b and len(a.split()) >= min_words and not text[e0:s1].strip():
            if edits and edits[-1].end > e0:
                continue
            edits.append(Edit(e0, e1, "", "duplicate_sentence",
                              f"the sentence of {len(a.split())} words repeated back to back"))
    return edits


def _exceptions(config: CleanConfig) -> frozenset[str]:
    """The shipped reduplications and the user's own exceptions."""
    return default_exceptions() | frozenset(config.exceptions)


def _decided_with() -> dict[str, object]:
    """The data these rules decide with: the tagger's model, wordfreq's lists, the shipped lists."""
    import importlib.metadata

    return {"tagger": tagger_version(), "wordfreq": importlib.metadata.version("wordfreq"),
            "reduplications": sorted(default_exceptions()),
            "interjections": sorted(interjections()), "phrasal_verbs": sorted(phrasal_verbs()),
            "sound_words": sorted(sound_words()), "word_names": sorted(word_names())}


# Removing one kind of repetition can reveal another ("the the cat the cat"): when any of them
# edited, they run once more (round "repetition"), so that cleaning the output again changes
# nothing.
RULES = (
    RuleSpec("duplicate_sentence", propose=duplicate_sentence, passes=3, round="repetition"),
    RuleSpec("duplicate_phrase", passes=3, round="repetition", decided_with=_decided_with,
             make=lambda config, evidence: DuplicatePhrase(_exceptions(config))),
    RuleSpec("duplicate_word", passes=3, round="repetition", decided_with=_decided_with,
             make=lambda config, evidence: DuplicateWord(_exceptions(config), evidence)),
)
