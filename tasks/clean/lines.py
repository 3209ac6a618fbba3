"""Rule families that work on whole lines: ``boilerplate_line`` and ``hyphenation``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from tasks.clean.engine import Edit, Flag
from tasks.clean.grammar import tag
from tasks.clean.registry import RuleSpec

_MARKERS = re.compile(
    r"^\s*(?:read more|read also|also read|see also|related(?: articles?| stories| coverage)?"
    r"|more on this(?: story)?|share this(?: article| story)?|share on \w+|advertisement"
    r"|sponsored(?: content)?|subscribe(?: now| to [\w ]+)?|sign up for [\w ]+|follow us on \w+"
    r"|click here[\w ]*|continue reading|recommended|most read|watch:|video:|photo:)\b"
    r"(?:\s*[:\-\u2013\u2014|>]\s*.*)?\s*$",
    re.I,
)
_TERMINAL = re.compile(r"[.!?:;,\u2026\"\u201d\u2019)]\s*$")
_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")
_STOP = frozenset(
    "a an the of to in on at for and or but with by from as is are was were be been it its "
    "this that these those his her their our new over after before into about up out".split()
)


def _paragraphs(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each line that stands alone between blank lines (or text edges)."""
    for m in re.finditer(r"[^\n]+", text):
        s, e = m.span()
        before_blank = s == 0 or text[max(0, s - 2):s] == "\n\n"
        after_blank = e == len(text) or text[e:e + 2] == "\n\n" or text[e:] == "\n"
        if before_blank and after_blank:
            yield s, e


def _has_verb(line: str) -> bool:
    """Does the tagger read a verb in ``line``? (Only lines already suspect get here.)"""
    return any(t.pos in ("VERB", "AUX") for t in tag(line))


def _stem(word: str) -> str:
    return word.lower().strip("'\u2019-")[:5]


def _removal(text: str, s: int, e: int) -> tuple[int, int]:
    """The span to delete for the line [s, e): the line and the blank line after it."""
    if text[e:e + 2] == "\n\n":
        return s, e + 2
    if s >= 2 and text[s - 2:s] == "\n\n":
        return s - 2, e
    return s, e


@dataclass(frozen=True, slots=True)
class BoilerplateLine:
    """Removes lines that are not part of the article: known markers ("Read more: ...",
    "Share this article") and the headline of another story injected between paragraphs."""

    recurring: frozenset[str] = frozenset()  # lines seen in several documents of a batch

    def __call__(self, text: str) -> list[Edit | Flag]:
        if "\n" not in text:
            return []
        out: list[Edit | Flag] = []
        paragraphs = list(_paragraphs(text))
        body_words: set[str] | None = None
        for index, (s, e) in enumerate(paragraphs):
            line = text[s:e].strip()
            if _MARKERS.match(line):
                out.append(Edit(*_removal(text, s, e), "", "boilerplate_line",
                                "a stand-alone line that starts like a site's marker ('Read more', "
                                "'Advertisement', 'Share this')"))
                continue
            if line in self.recurring:
                out.append(Edit(*_removal(text, s, e), "", "boilerplate_line",
                                "this short line stands alone in three or more different stories "
                                "of the batch (copies of one story counted once)"))
                continue
            if index == 0 or index == len(paragraphs) - 1 or _TERMINAL.search(line):
                continue  # a title/dateline or the last line; or a line ending like a sentence
            words = _WORD.findall(line)
            if not 3 <= len(words) <= 14 or not words[0][0].isupper():
                continue
            long_words = [w for w in words if len(w) > 3]
            if long_words and sum(w[0].isupper() for w in long_words) >= 0.8 * len(long_words):
                continue  # Title Case: the article's own sub-heading, not a stray headline
            content = {_stem(w) for w in words if w.lower() not in _STOP and len(w) > 2}
            if len(content) < 2:
                continue
            if body_words is None:
                body_words = {_stem(w) for w in _WORD.findall(text) if len(w) > 2}
            # words of this line used elsewhere in the document (not counting the line itself)
            # the same line elsewhere (a promo injected twice) is no evidence it belongs here
            rest = (text[:s] + text[e:]).replace(f"\n{line}\n", "\n")
            rest_words = {_stem(w) for w in _WORD.findall(rest)} if content & body_words else set()
            common = len(content & rest_words)
            shared = common / len(content)
            # one word in common with six or more is chance ("month", "across"), not a topic
            # a headline of another story is a clause ("Zoo welcomes rare twin pandas"); a line
            # with no verb is more likely the article's own sub-heading ("Early life and academic
            # career"): flagged at most (the tagger asked last: most lines share words)
            if ((common == 0 and len(content) >= 3)
                    or (common == 1 and len(content) >= 6)) and _has_verb(line):
                out.append(Edit(*_removal(text, s, e), "", "boilerplate_line",
                                f"a title-like line between paragraphs; {common} of its "
                                f"{len(content)} content words occur elsewhere in the article: "
                                f"the headline of another story"))
            elif shared < 0.34:
                out.append(Flag(s, e, "boilerplate_line",
                                "short title-like line with little in common with the article: "
                                "a sub-heading, or the headline of another story?"))
        return out


# "interna-\ntional": a word broken at a line end, continued in lower case on the next line
# (not "&am-\np;": joining it would make an HTML entity after the encoding rule has run)
_BROKEN = re.compile(r"(?<![\w&-])([^\W\d_]{2,})-[ \t]*\n[ \t]*([a-z][\w]*)")
# first parts that form real hyphenated compounds ("long-\nawaited" stays "long-awaited")
_COMPOUND_HEADS = frozenset(
    "long short well ill self non anti pro pre post ex co multi semi cross half all full top "
    "high low one two three four five six seven eight nine ten so far near mid over under "
    "life world state cease first second third year old time high-level so-called".split()
)


def hyphenation(text: str) -> list[Edit]:
    """Rejoins a word hyphenated across a line break; real compounds keep their hyphen."""
    if "-\n" not in text and "- \n" not in text:
        return []
    edits: list[Edit] = []
    lowered = text.lower()
    for m in _BROKEN.finditer(text):
        head, tail = m.group(1), m.group(2)
        joined, hyphenated = f"{head}{tail}".lower(), f"{head}-{tail}".lower()
        keep_hyphen = (head.lower() in _COMPOUND_HEADS or hyphenated in lowered) and (
            joined not in lowered)
        why = (f"'{head}-' + '{tail}' at a line break: the compound keeps its hyphen"
               if keep_hyphen else f"'{head}-' + '{tail}': a word broken at a line end")
        edits.append(Edit(m.end(1), m.start(2), "-" if keep_hyphen else "", "hyphenation", why))
    return edits


RULES = (
    RuleSpec("hyphenation", propose=hyphenation, passes=2),
    RuleSpec("boilerplate_line", passes=2,
             make=lambda config, evidence: BoilerplateLine(evidence.recurring_lines)),
)
