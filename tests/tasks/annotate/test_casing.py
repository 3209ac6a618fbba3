"""ALL-CAPS headlines and datelines re-cased for the model, offsets unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.annotate.casing import _TWO_CAPS_WORDS, _caps_runs, readable_case


@pytest.mark.parametrize(("text", "readable"), [
    ("ZELENSKY MEETS XI IN BEIJING\n\nZelensky and Xi met in Beijing on Monday.",
     "Zelensky meets Xi in Beijing\n\nZelensky and Xi met in Beijing on Monday."),
    ("OSLO, NORWAY (Wire) \u2014 Norway and Oslo agreed.",
     "Oslo, Norway (Wire) \u2014 Norway and Oslo agreed."),
    ("NATO CHIEF VISITS WARSAW\n\nThe NATO chief arrived in Warsaw.",
     "NATO chief visits Warsaw\n\nThe NATO chief arrived in Warsaw."),
    # a capital at a sentence start is no evidence: "Talks" is "talks" here
    ("PEACE TALKS RESUME\n\nTalks resumed. The talks went on.",
     "Peace talks resume\n\nTalks resumed. The talks went on."),
])
def test_caps_runs_take_the_documents_own_case(text: str, readable: str) -> None:
    assert readable_case(text) == readable


@pytest.mark.parametrize("text", [
    "The UN WFP said aid was late.",  # acronyms side by side
    "Officials met in Kyiv on Monday.",  # nothing in capitals
    "Talks with the EU and NATO went on.",  # single acronyms
])
def test_text_without_caps_runs_is_unchanged(text: str) -> None:
    assert readable_case(text) == text


def test_same_length_whatever_the_letters() -> None:
    text = "STRASSE UND GRÜSSE AUS MÜNCHEN\n\nDie Straße in München."
    out = readable_case(text)
    assert len(out) == len(text)
    assert out.lower() == text.lower()


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["KYIV", "UN", "A", "Zelensky", "talks", "ÉTÉ", "ÆØ", "ß",
                                 "Ünal", "ЖУК", "3", " ", ", ", " \u2014 ", "\n", "-", "..."]),
                max_size=12).map("".join))
def test_texts_the_quick_check_passes_over_have_no_run(text: str) -> None:
    """The C-speed check that skips most texts never skips one with a run to re-case."""
    if not _TWO_CAPS_WORDS.search(text):
        assert _caps_runs(text) == []
