"""ALL-CAPS headlines and datelines as the model reads them best: in the document's own case.

The small English model tags "KYIV, UKRAINE" poorly (UKRAINE comes out as an ORG) and
"Kyiv, Ukraine" well. ``readable_case`` gives the model a copy of the text in which every run of
two or more ALL-CAPS words ("ZELENSKY MEETS XI IN BEIJING", "KYIV, UKRAINE") is re-cased word by
word. Letters only change case, so every offset is the same in both texts, and the tables keep
the text as it was written.

Each word takes its most common form elsewhere in the document ("Zelensky", "Beijing", "NATO",
"meets"), a capital at the start of a sentence not counting; a word the document does not use
elsewhere is written in lower case (frequency lists cannot tell "France" from "meets": both are
common words once case is gone), unless it is three letters or fewer (an acronym: "WFP"). The
run's first word starts with a capital; runs of short words only ("UN WFP") are left alone.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

_WORD = re.compile(r"[^\W\d_]+")
_GAP = re.compile(r"[^\w\n]{1,4}")  # what may stand between two words of one run: ", ", " "
# Two letters that are not lower case, a gap, two more: every run has this where its first two
# words meet, so a text without it has no run (found at C speed; most texts have none).
_TWO_CAPS_WORDS = re.compile(r"[^\W\d_a-z\u00df-\u00ff]{2}" + _GAP.pattern
                             + r"[^\W\d_a-z\u00df-\u00ff]{2}")


def _caps_runs(text: str) -> list[list[re.Match[str]]]:
    """Runs of two or more ALL-CAPS words of two or more letters, on one line."""
    runs: list[list[re.Match[str]]] = []
    current: list[re.Match[str]] = []
    for w in _WORD.finditer(text):
        word = w.group()
        caps = len(word) > 1 and word.isupper()
        if caps and current and _GAP.fullmatch(text, current[-1].end(), w.start()):
            current.append(w)
            continue
        if len(current) >= 2:
            runs.append(current)
        current = [w] if caps else []
    if len(current) >= 2:
        runs.append(current)
    # "UN WFP": acronyms side by side, not a headline
    return [run for run in runs if any(len(w.group()) > 3 for w in run)]


def readable_case(text: str) -> str:
    """``text`` with its runs of ALL-CAPS words re-cased (same length, same offsets)."""
    runs = _caps_runs(text) if _TWO_CAPS_WORDS.search(text) else []
    if not runs:
        return text
    in_runs = {w.start() for run in runs for w in run}
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    for w in _WORD.finditer(text):
        if w.start() in in_runs:
            continue
        word = w.group()
        before = text[max(0, w.start() - 3):w.start()].rstrip(" \"'\u201c\u2018(")
        if word[:1].isupper() and not word.isupper() and (not before or before[-1] in ".!?\n"):
            continue  # a capital at the start of a sentence says nothing about the word
        forms[word.lower()][word] += 1
    out = list(text)
    for run in runs:
        for k, w in enumerate(run):
            word = w.group()
            seen = forms.get(word.lower())
            if seen:
                new = seen.most_common(1)[0][0]
            elif len(word) <= 3:
                new = word  # an acronym the document does not spell out: "WFP", "BBC"
            else:
                new = word.lower()
            if k == 0:
                new = new[:1].upper() + new[1:]
            if len(new) == len(word):
                out[w.start():w.end()] = new
    return "".join(out)
