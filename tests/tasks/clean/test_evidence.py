"""Batch evidence: recurring lines count once per story; names the batch uses doubled."""

from __future__ import annotations

from tasks.clean import clean_text
from tasks.clean.evidence import gather, recurring_lines

PROMO = "Stories you may have missed this week"

STORIES = [
    "Harbour workers voted to end a strike that had closed the port for nine days. The union "
    "said members accepted a pay rise of four percent over two years.",
    "A late frost damaged apple blossom across the valley, growers said on Tuesday. Some "
    "orchards lost most of their crop, and prices are expected to rise in the autumn.",
    "The city library will open on Sundays from next month after residents signed a petition. "
    "The council found the money by cutting the hours of two smaller branches.",
    "Engineers finished testing a new tram line that links the airport with the old town. "
    "Passenger services are due to start in the first week of December.",
]


def _article(body: str, extra: str) -> str:
    first, second = body.split(". ", 1)
    return f"{first}.\n\n{extra}\n\n{second}"


def test_line_in_several_different_stories_is_boilerplate() -> None:
    texts = [_article(body, PROMO) for body in STORIES[:3]]
    assert recurring_lines(texts) == frozenset({PROMO})
    evidence = gather(texts)
    r = clean_text(texts[0], evidence=evidence)
    assert PROMO not in r.clean_text
    assert [e.rule for e in r.edits] == ["boilerplate_line"]


def test_copies_of_one_story_share_lines_that_are_not_boilerplate() -> None:
    # the same story three times (syndicated, or translated twice): its sub-heading, dateline and
    # quote recur, but they are the story's own lines
    subheading = "What the new timetable means for commuters"
    dateline = "LYON, France (Wire) \u2014"
    quote = "\u201cWe waited a long time for this,\u201d one commuter said."
    story = STORIES[3]
    copies = [
        f"{dateline}\n\n{story}\n\n{subheading}\n\n{quote}",
        f"{dateline}\n\n{story} Tickets go on sale next week.\n\n{subheading}\n\n{quote}",
        f"{dateline}\n\n{story}\n\n{subheading}\n\n{quote}\n\nThe operator did not comment.",
    ]
    assert recurring_lines(copies) == frozenset()
    evidence = gather(copies)
    for text in copies:
        assert clean_text(text, evidence=evidence).clean_text == text


def test_prose_and_datelines_are_never_recurring_boilerplate() -> None:
    sentence = "Officials said the figures would be revised next month."
    dateline = "GENEVA, Switzerland (Wire) \u2014"
    texts = [f"{dateline}\n\n{_article(body, sentence)}" for body in STORIES[:4]]
    assert recurring_lines(texts) == frozenset()


def test_doubled_names_need_two_documents_and_more_doubles_than_singles() -> None:
    assert gather(["Flights to Wawa Wawa resumed.", "Wawa Wawa got snow."]).doubled_names == {"wawa"}
    assert gather(["Flights to Wawa Wawa resumed.", "Wawa got snow.", "Wawa is cold."]
                  ).doubled_names == frozenset()
    assert gather(["The Wawa Wawa ferry.", "Rain."]).doubled_names == frozenset()
