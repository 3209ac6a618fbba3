"""Repeats decided from evidence: grammar, the document, the batch, word lists (issue 10).

Each case is written for these tests; the expected text is written out in full and the rule
and its reason are asserted, not only the text.
"""

from __future__ import annotations

import pytest

from tasks.clean import BatchEvidence, clean_text, gather


def rules_of(items: list) -> list[str]:
    return [e.rule for e in items]


# --- 1. a capitalised double that the document settles --------------------------------------------

def test_capitalised_double_repaired_when_the_document_uses_the_single_form() -> None:
    raw = ("Third seed Ilse Brandt Brandt of Austria reached the final. "
           "Brandt said the wind made it hard, and Brandt will play on Sunday.")
    r = clean_text(raw)
    assert r.clean_text == ("Third seed Ilse Brandt of Austria reached the final. "
                            "Brandt said the wind made it hard, and Brandt will play on Sunday.")
    assert rules_of(r.edits) == ["duplicate_word"]
    assert r.edits[0].reason == "'Brandt' occurs 2 times single and 1 time doubled in this document"
    assert r.flags == []


def test_capitalised_double_kept_when_the_document_uses_the_double_throughout() -> None:
    raw = ("The ferry to Kiri Kiri leaves at dawn. Fishermen on Kiri Kiri say the catch is "
           "small this year.")
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == [] and r.flags == []


def test_common_word_doubled_with_capitals_is_repaired_without_other_evidence() -> None:
    r = clean_text("Work on the new Library Library starts in May.")
    assert r.clean_text == "Work on the new Library starts in May."
    assert "common English word" in r.edits[0].reason


def test_rare_capitalised_double_with_no_evidence_is_flagged() -> None:
    raw = "The pianist Xi Xi played on Sunday."
    r = clean_text(raw)
    assert r.clean_text == raw
    assert [(f.rule, f.text) for f in r.flags] == [("duplicate_word", "Xi Xi")]


def test_batch_evidence_keeps_a_name_used_doubled_in_other_documents() -> None:
    texts = ["Growers near Tala Tala expect a late harvest.",
             "A new school opened in Tala Tala on Monday.",
             "The river at Tala Tala rose overnight."]
    evidence = gather(texts)
    assert evidence.doubled_names == frozenset({"tala"})
    r = clean_text("Buses to Tala Tala were cancelled.", evidence=evidence)
    assert r.clean_text == "Buses to Tala Tala were cancelled."
    assert r.edits == [] and r.flags == []
    # without the batch, the same document has no evidence either way: a person decides
    assert rules_of(clean_text("Buses to Tala Tala were cancelled.").flags) == ["duplicate_word"]


def test_acronym_doubled_is_repaired_even_when_it_recurs() -> None:
    raw = "The WTO WTO rules apply. Members of the WTO WTO met."
    assert clean_text(raw).clean_text == "The WTO rules apply. Members of the WTO met."


# --- 2. doubles touching punctuation or a possessive ----------------------------------------------

@pytest.mark.parametrize(("raw", "clean"), [
    ("Voting closes in March March, the board said.", "Voting closes in March, the board said."),
    ("Ahead of next month month's summit, envoys met.", "Ahead of next month's summit, envoys met."),
    ("The bakery bakery’s ovens were repaired.", "The bakery’s ovens were repaired."),
    ("The museum stays shut until Friday Friday.", "The museum stays shut until Friday."),
])
def test_double_next_to_punctuation_or_possessive(raw: str, clean: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == clean
    assert rules_of(r.edits) == ["duplicate_word"]


# --- 3. words that can be doubled: grammar decides ------------------------------------------------

@pytest.mark.parametrize(("raw", "clean", "why"), [
    ("The motion was was rejected.", "The motion was rejected.", "doubled verb"),
    ("A council that had had objected now agrees.", "A council that had objected now agrees.",
     "participle"),
    ("The bridge is is closed.", "The bridge is closed.", "doubled verb"),
    ("They can can appeal the ruling.", "They can appeal the ruling.", "doubled verb"),
    ("He will will resign.", "He will resign.", "doubled verb"),
    ("Leave the keys in in the drawer.", "Leave the keys in the drawer.", "doubled preposition"),
    ("The minister met on on Tuesday.", "The minister met on Tuesday.", "doubled preposition"),
    ("She spoke in her her office.", "She spoke in her office.", "no verb takes two objects"),
    ("Officials said that that the plan was ready.", "Officials said that the plan was ready.",
     "doubled 'that'"),
])
def test_grammatical_word_doubled_wrongly_is_repaired(raw: str, clean: str, why: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == clean
    assert rules_of(r.edits) == ["duplicate_word"]
    assert why in r.edits[0].reason


@pytest.mark.parametrize("raw", [
    "By June the club had had enough of the delays.",
    "The firm had had three owners in ten years.",
    "She argued that that decision was unfair.",
    "What it is is a question of money.",
    "Who she is is still unclear.",
    "Whoever wins wins a trip to Oslo.",
    "Guests can sign in in the lobby.",
    "The street they grew up in in the 1980s is gone.",
    "He handed her her passport.",
    "I told you you would like it.",
])
def test_grammatical_double_kept(raw: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == []


# --- 4. phrase repeats at a clause end, or of function words --------------------------------------

@pytest.mark.parametrize(("raw", "clean"), [
    ("That was, in his opinion his opinion.", "That was, in his opinion."),
    ("The work is ahead of plan ahead of plan, engineers said.",
     "The work is ahead of plan, engineers said."),
    ("The spokesman declined the spokesman declined.", "The spokesman declined."),
    ("Place the box under the under the table.", "Place the box under the table."),
    ("A train to the to the coast was added.", "A train to the coast was added."),
])
def test_phrase_repeat_repaired(raw: str, clean: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == clean
    assert rules_of(r.edits) == ["duplicate_phrase"]
    assert "repeated back to back" in r.edits[0].reason


# --- 5. legitimate repeats are kept ---------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "The report was all blah blah about growth.",
    "The audience laughed, ha ha, at the wrong moment.",
    "Children waved bye bye to the ship.",
    "Fans cheered hip hip hooray after the match.",
    "The story is set in a land far far away.",
    "We are so so proud of them.",
    "It was the very very last ticket.",
    "She lent him her car, and he lent her her bike.",
    "Visitors must check in in the main hall.",
    "The lake was as calm as calm can be.",
    "What will be will be, the farmer said.",
    "Prices rose again and again in the spring.",
    "Well well, look who is back.",
])
def test_legitimate_repeat_kept(raw: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == []


def test_interjection_only_where_the_tagger_reads_one() -> None:
    assert clean_text("The talks went well well into the night.").clean_text == (
        "The talks went well into the night.")


# --- loops ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "clean"), [
    ("The shop stays open till till till late.", "The shop stays open till late."),
    ("The ZX-ZX-ZX-ZX rocket failed.", "The ZX rocket failed."),
    ("They praised the re-re-re-election plan.", "They praised the re-election plan."),
    ("The state state-owned bank lent more.", "The state-owned bank lent more."),
    ("Anti-tank tank mines were found.", "Anti-tank mines were found."),
    ("Siko Siko Siko Siko won the vote.", "Siko won the vote."),
])
def test_loops_repaired(raw: str, clean: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == clean
    assert rules_of(r.edits) == ["duplicate_word"]


@pytest.mark.parametrize(("raw", "flagged"), [
    ("We drove past the old mill, the old mill, the old mill at dusk.",
     "the old mill, the old mill, the old mill"),
    ("The hall was empty and empty.", "empty and empty"),
    ("Talks between the union and the union failed.", "the union and the union"),
])
def test_loops_deletion_cannot_repair_are_flagged(raw: str, flagged: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == raw
    assert [(f.rule, f.text) for f in r.flags] == [("duplicate_phrase", flagged)]


@pytest.mark.parametrize("raw", [
    "It was a so-so season and a bye-bye to the coach.",
    "Sales grew faster and faster, more and more every week.",
    "They walked for miles and miles.",
])
def test_loop_look_alikes_kept(raw: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == [] and r.flags == []


# --- 7. an apostrophe that starts a word ----------------------------------------------------------

def test_elided_word_keeps_its_space() -> None:
    raw = "Sales peaked in the late \u201990s and fell in the \u201900s ."
    r = clean_text(raw)
    assert r.clean_text == "Sales peaked in the late \u201990s and fell in the \u201900s."


def test_every_edit_says_why() -> None:
    raw = "The the talks talks were held in in the capital capital, officials said said."
    r = clean_text(raw)
    assert r.edits and all(e.reason for e in r.edits if e.rule.startswith("duplicate"))


def test_evidence_is_part_of_what_is_cached() -> None:
    """Equal evidence, equal rules; different evidence, different rules (issue 10, finding 8)."""
    a = BatchEvidence(recurring_lines=frozenset({"Stories you may have missed today"}))
    b = BatchEvidence(recurring_lines=frozenset({"More from our partners this week"}))
    text = ("Rain fell all week in the north.\n\nMore from our partners this week\n\n"
            "Farmers said the crops would recover.")
    assert clean_text(text, evidence=a).clean_text == text
    assert clean_text(text, evidence=b).clean_text == (
        "Rain fell all week in the north.\n\nFarmers said the crops would recover.")


# --- look-alikes found in human-written text (GUM's Wikinews and Wikipedia, train split) ------------

@pytest.mark.parametrize("raw", [
    "It is the first FIRST Robotics event held in the city.",  # a word, then a name in capitals
    "Rent, repairs and things like that that you have to pay.",  # pronoun, then relative
    "She met kind, kind people -- -- kind people -- and stayed.",  # speech with dashes
])
def test_human_written_look_alikes_kept(raw: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == []


def test_sub_heading_without_a_verb_is_not_deleted() -> None:
    raw = ("Nilsen was born in Bergen in 1961 and studied law in Oslo.\n\n"
           "Later career and family\n\n"
           "She joined the ministry in 1990 and led it from 2004.")
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == []
