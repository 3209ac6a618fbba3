"""Rule family ``punctuation_spacing``: spaces before punctuation, missing spaces after it."""

from __future__ import annotations

import re

from tasks.clean.engine import Edit, Flag
from tasks.clean.registry import RuleSpec
from tasks.clean.repetition import _zipf  # one cache of wordfreq's look-ups

# A space before , . ; : ! ? or a closing bracket/quote. Not before an ellipsis ("and ... then"),
# not where the mark starts a number (" .5"), not at the start of a line.
# Not before an apostrophe that starts a word ("the late ’90s", "rock ’n’ roll"): it is
# an elision, not a closing quote.
# (the lookbehind is written after the first space, the same test: a pattern that starts with a
# space is searched for at C speed, one that starts with a lookbehind is not)
_SPACE_BEFORE = re.compile(
    r"[ ](?<=[^\s][ ])[ ]*(?=(?:[,;:!?)\]}\u201d]|\u2019(?![^\W_])|\.(?!\.|\d)))")
# A space after an opening bracket or curly opening quote: "( The" -> "(The".
_SPACE_AFTER_OPEN = re.compile(r"(?:(?<=[(\[{])|(?<=[\s(]\u201c)|(?<=^\u201c))[ ]+(?=\S)", re.M)
# "said.The" / "talks,the": a lower-case word, sentence punctuation, then a word (looked ahead
# at, not taken: in "talks,officials,at" the next match starts at "officials").
_MISSING_AFTER = re.compile(r"(?<![\w.@/\\-])([A-Za-z]?[a-z]{2,}[\u201d\u2019\"')]?)([.!?;,])(?=([A-Z][a-z]+|[a-z]{2,}))")
_GLUED = re.compile(r"[.!?;,](?=[A-Za-z])")
_WEBLIKE = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*://|www\.)\S+|\S+@\S+\.\S+")
_FILE_EXTENSIONS = frozenset(
    "com org net gov edu int mil io co uk de fr ru cn ua eu info biz pdf doc docx xls xlsx csv "
    "txt json jsonl xml html htm php js ts py md png jpg jpeg gif svg zip gz tar mp3 mp4 exe "
    "ppt pptx odt ods parquet".split()
)


def _missing_after(text: str) -> list[re.Match[str]]:
    """``_MISSING_AFTER`` matches, looked for only around a mark glued to a letter."""
    found: dict[int, re.Match[str]] = {}
    for g in _GLUED.finditer(text):
        lo = max(0, g.start() - 40)
        for m in _MISSING_AFTER.finditer(text, lo, g.end() + 40):
            if m.start(2) == g.start():
                found[m.start()] = m
    return [found[k] for k in sorted(found)]


# A word this common (wordfreq's Zipf scale) after a glued full stop starts a sentence ("Kyiv.The",
# "Riga.In"); a rarer capitalised word after a capitalised one may be a name with a dot inside.
SENTENCE_OPENER_ZIPF = 6.0
# The part before the dot of an outlet's name is a rare word ("Kyiv", "Meduza", "Gazeta": Zipf
# 1.3-3.1); a word as common as this ("Tuesday" 4.6, "London" 5.3) ends a sentence.
NAME_PART_ZIPF = 4.2


def _dotted_name(text: str, m: re.Match[str]) -> tuple[str, str] | None:
    """("keep" | "flag", why) for "Word.Word" whose left word is capitalised: a dotted name
    ("Kyiv.Post", "Delfi.Lt") unless the word after the dot starts a sentence by evidence."""
    word, nxt = m.group(1), m.group(3)
    if not word[0].isupper() or not nxt[0].isupper():
        return None  # "said.The": a lower-case word ends a sentence
    glued = f"{word}.{nxt}"
    if len(nxt) == 2:
        return "keep", f"{glued!r}: a name ending in a two-letter domain, not a sentence"
    if text.count(glued) >= 2 and f"{word}. {nxt}" not in text:
        return "keep", f"{glued!r} written so {text.count(glued)} times and never with a space"
    if _zipf(nxt.lower()) >= SENTENCE_OPENER_ZIPF:
        return None  # "Kyiv.The talks": a word that opens sentences
    if _zipf(word.lower()) >= NAME_PART_ZIPF:
        return None  # "on Tuesday.Share this": a common word ends the sentence, no name's part
    return "flag", (f"{glued!r}: a name with a dot, or a missing space before {nxt!r}? "
                    f"{nxt!r} is no common sentence opener")


def punctuation_spacing(text: str) -> list[Edit | Flag]:
    """Remove spaces before punctuation and after opening brackets; add a missing space after
    sentence punctuation ("said.The"), leaving decimals, URLs, e-mails and file names alone."""
    edits: list[Edit | Flag] = []
    protected: list[tuple[int, int]] | None = None

    def is_protected(pos: int) -> bool:
        nonlocal protected
        if protected is None:  # found only when needed: a scan for URLs is not cheap
            # each _WEBLIKE match holds "://", "www." or "@"
            protected = [m.span() for m in _WEBLIKE.finditer(text)] if (
                "@" in text or "://" in text or "www." in text) else []
        return any(s <= pos < e for s, e in protected)

    for m in _SPACE_BEFORE.finditer(text):
        if not is_protected(m.start()):
            edits.append(Edit(m.start(), m.end(), "", "punctuation_spacing"))
    if "( " in text or "[ " in text or "{ " in text or "\u201c " in text:
        for m in _SPACE_AFTER_OPEN.finditer(text):
            if not is_protected(m.start()):
                edits.append(Edit(m.start(), m.end(), "", "punctuation_spacing"))
    for m in _missing_after(text):
        word, mark, nxt = m.group(1), m.group(2), m.group(3)
        pos = m.start(2) + 1
        if is_protected(m.start(2)):
            continue
        if mark in ".!?" and not nxt[0].isupper():
            continue  # "example.com", "node.js": a lower-case word after a period is no sentence
        if mark == "." and nxt.lower() in _FILE_EXTENSIONS:
            continue
        if mark in ";," and not word[-1].isalpha():
            continue
        if mark == "." and (name := _dotted_name(text, m)) is not None:
            if name[0] == "flag":
                edits.append(Flag(m.start(1), m.end(3), "punctuation_spacing", name[1]))
            continue
        edits.append(Edit(pos, pos, " ", "punctuation_spacing"))
    return edits


# Each pass can uncover one more mark: "Minister  .Aaaaaa  ,the" is "Minister.Aaaaaa,the" after
# one, "Minister. Aaaaaa,the" after two (a word glued behind a mark is not taken for a
# sentence's first word: "example.com"), "Minister. Aaaaaa, the" after three. A pass runs only
# when the one before changed the text.
RULES = (RuleSpec("punctuation_spacing", propose=punctuation_spacing, passes=4),)
