"""Rule family ``broken_sentence``: sentence breaks machine translation put in the wrong place."""

from __future__ import annotations

import re

from tasks.clean.engine import Flag

# Words after which a period does not end a sentence.
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt ft gen col lt sgt capt gov sen rep rev fr hon pres "
    "vs etc e.g i.e cf al approx ca no nos vol p pp fig op ed eds inc ltd co corp dept est "
    "jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun "
    "u.s u.k u.n a.m p.m ph.d".split()
)
_BREAK = re.compile(r"(?<=\w)([.!?])[ ]+([a-z][a-z'\u2019-]*)\b")
_TOKEN_BEFORE = re.compile(r"(\S+)$")


def broken_sentence(text: str) -> list[Flag]:
    """Flags a sentence break followed by a lower-case word ("in Asia. central last
    September") unless the period closes an abbreviation; the text is left as it is."""
    if ". " not in text and "? " not in text and "! " not in text:
        return []
    flags: list[Flag] = []
    for m in _BREAK.finditer(text):
        word = m.group(2)
        if any(c.isupper() for c in word[1:]):
            continue  # "eBay", "iPhone": brands that start in lower case
        before = _TOKEN_BEFORE.search(text, 0, m.start(1))
        token = before.group(1).lower().lstrip("(\"'\u201c\u2018") if before else ""
        if m.group(1) == "." and (token in ABBREVIATIONS or len(token) == 1 or "." in token):
            continue
        start = before.start(1) if before else m.start(1)
        flags.append(Flag(start, m.end(2), "broken_sentence",
                          f"sentence break before lower-case {word!r}: the sentence was likely "
                          "cut in the wrong place"))
    return flags
