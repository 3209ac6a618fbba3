"""Invariants of the cleaner over generated text (Hypothesis)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.clean import CleanResult, clean_text, replay

SETTINGS = settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORDS = ("the minister said talks would resume next week in the capital and officials expected "
         "a deal on energy prices before winter while analysts warned that growth remained weak "
         "across the region after months of rising costs for households farmers and companies "
         "government bank council report plan water rain harvest season visitors market").split()
NAMES = ("Geneva", "Kenya", "Lisbon", "Maria", "Ahmed", "Tokyo", "Brazil", "Oslo")

word = st.sampled_from(WORDS)
# no two equal words back to back: clean English has none outside the known exceptions
clause = st.lists(word, min_size=3, max_size=12).map(
    lambda ws: " ".join(w for i, w in enumerate(ws) if i == 0 or w != ws[i - 1]))


@st.composite
def clean_sentence(draw: st.DrawFn) -> str:
    first = draw(clause)
    name = draw(st.sampled_from(NAMES))
    rest = draw(clause)
    sentence = f"{first[0].upper()}{first[1:]} in {name}, {rest}"
    if draw(st.booleans()):
        sentence += f" at {draw(st.integers(1, 99))}.{draw(st.integers(0, 9))} percent"
    return sentence + draw(st.sampled_from([".", ".", ".", "?", "!"]))


_REPEAT = re.compile(r"\b(\w+(?:\W+\w+){0,5})\W+\1\b", re.I)


def _no_repeats(text: str) -> bool:
    """Random word strings can repeat a phrase back to back ("the in the in"): not clean English."""
    return _REPEAT.search(text) is None


@st.composite
def _article(draw: st.DrawFn) -> str:
    # unique sentences: a sentence repeated back to back is an artifact, not clean English
    paragraphs = draw(st.lists(st.lists(clean_sentence(), min_size=1, max_size=4, unique=True)
                               .map(" ".join), min_size=1, max_size=5, unique=True))
    return "\n\n".join(paragraphs)


def clean_article() -> st.SearchStrategy[str]:
    return _article().filter(_no_repeats)


ARTIFACTS = ("  ", " ,", " .", "\u00a0", "\r\n", "\t", "â€™", "Ã©", "&amp;", "\u200b", "\ufeff",
             "-\n", "\n\n\n", " ", ".", ",", "the the", "Read more: x\n\n", "\x9d", "e\u0301")


@st.composite
def artifact_text(draw: st.DrawFn, kinds: tuple[str, ...] = ("insert", "double", "unicode")) -> str:
    base = draw(clean_article())
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(kinds))
        pos = draw(st.integers(0, len(base)))
        if kind == "insert":
            base = base[:pos] + draw(st.sampled_from(ARTIFACTS)) + base[pos:]
        elif kind == "double":
            end = draw(st.integers(pos, min(len(base), pos + 40)))
            base = base[:end] + " " + base[pos:end] + base[end:]
        else:
            base = base[:pos] + draw(unicode_text) + base[pos:]
    return base


PIECES = [*"abc ABC.,;:!?\n\t-'\"", "\u0301", "\u0308", "\u05e9\u05dc\u05d5\u05dd", "\u0627\u0644",
          "\U0001f44d\U0001f3fd", "\u200d", "\u202e", "\u00a0", "\u2019", "\u201c", "\u201d",
          "\r", "\x85", "\u2028", "the", "The", "Bora"]
unicode_text = (st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
                | st.lists(st.sampled_from(PIECES), max_size=40).map("".join))

any_text = unicode_text | artifact_text() | clean_article()


def assert_consistent(raw: str, r: CleanResult) -> None:
    assert replay(raw, r.edits) == r.clean_text
    prev_raw_end = prev_clean_end = -1
    for e in r.edits:
        assert raw[e.raw_start:e.raw_end] == e.before
        assert r.clean_text[e.clean_start:e.clean_end] == e.after
        assert e.before != e.after
        assert e.raw_start >= prev_raw_end and e.clean_start >= prev_clean_end
        prev_raw_end, prev_clean_end = e.raw_end, e.clean_end
    for f in r.flags:
        assert raw[f.raw_start:f.raw_end] == f.text
        assert 0 <= f.clean_start <= f.clean_end <= len(r.clean_text)


@SETTINGS
@given(any_text)
def test_edits_replay_and_offsets_are_valid(raw: str) -> None:
    assert_consistent(raw, clean_text(raw))


@SETTINGS
@given(any_text)
def test_cleaning_is_idempotent(raw: str) -> None:
    once = clean_text(raw).clean_text
    again = clean_text(once)
    assert again.edits == []
    assert again.clean_text == once


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_offset_map_agrees_on_untouched_characters(raw: str) -> None:
    r = clean_text(raw)
    m = r.offsets
    touched = set()
    for e in r.edits:
        touched.update(range(max(0, e.raw_start - 1), e.raw_end + 1))
    for i in range(len(raw)):
        if i in touched:
            continue
        c0, c1 = m.to_clean(i, i + 1)
        assert r.clean_text[c0:c1] == raw[i]
        assert m.to_raw(c0, c1) == (i, i + 1)


@SETTINGS
@given(clean_article())
def test_clean_english_passes_unchanged(raw: str) -> None:
    r = clean_text(raw)
    assert r.edits == []
    assert r.clean_text == raw


@pytest.mark.parametrize("raw", [
    "The in Geneva, the. The in the in Geneva, the.",  # a phrase hides a repeated sentence
    "Prices rose in a the a  a the region.",  # a word hides a repeated phrase
])
def test_repetition_revealed_by_another_removal_is_removed(raw: str) -> None:
    once = clean_text(raw)
    assert replay(raw, once.edits) == once.clean_text
    assert clean_text(once.clean_text).edits == []


def test_mojibake_behind_a_no_break_space_is_cleaned_in_one_go() -> None:
    """Found by the idempotence property: ftfy read the line differently once the whitespace
    rule had removed the no-break space, so a second cleaning changed the text again."""
    once = clean_text("\xa0\u00c2\x80").clean_text
    assert clean_text(once).edits == []
