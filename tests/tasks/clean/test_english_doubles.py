"""Doubles English makes on purpose are kept; loops, case-variant and compound doubles of MT are
repaired or flagged (issue 22). Every sentence is written for these tests."""

from __future__ import annotations

import pytest

from tasks.clean import clean_text


def rules_of(items: list) -> list[str]:
    return [e.rule for e in items]


# --- sound words and interjections ----------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "The twins giggled ha ha behind the curtain.",
    "All night the old radiator went tick tick in the hall.",
    "The horns of the wedding cars went honk honk down the street.",
    "Grandpa answered heh heh and went back to his paper.",
    "The boy rubbed his belly and said yum yum.",
    "Santa waved and boomed ho ho ho at the children.",
])
def test_doubled_sound_word_kept(raw: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == [] and r.flags == []


def test_doubled_interjection_set_off_at_the_start_is_kept() -> None:
    raw = "\u201cNow now, nobody is blaming you,\u201d the coach said."
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == []


def test_linking_adverb_doubled_at_the_start_is_repaired() -> None:
    r = clean_text("However however, the bridge stayed shut.")
    assert r.clean_text == "However, the bridge stayed shut."
    assert rules_of(r.edits) == ["duplicate_word"]


def test_sound_word_running_into_the_sentence_is_repaired() -> None:
    r = clean_text("Hey hey morning market opens at six.")
    assert r.clean_text == "Hey morning market opens at six."
    assert rules_of(r.edits) == ["duplicate_word"]
    assert r.edits[0].reason == "'hey' doubled back to back"


# --- a word beside a compound that holds it --------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "The committee began in in-depth hearings on the budget.",
    "The guard hit three three-pointers before half time.",
    "After a short lead-in in April, the show went on air.",
    "The council sold two two-storey houses on the square.",
])
def test_word_with_its_own_role_beside_a_compound_kept(raw: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == []


@pytest.mark.parametrize(("raw", "clean", "why"), [
    ("The state state-run channel aired the speech.", "The state-run channel aired the speech.",
     "'state' doubled into the compound that follows"),
    ("A mid-term term review is due.", "A mid-term review is due.",
     "'term' repeated after the compound that ends with it"),
])
def test_noun_doubled_into_its_compound_repaired(raw: str, clean: str, why: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == clean
    assert rules_of(r.edits) == ["duplicate_word"]
    assert r.edits[0].reason == why


def test_double_before_a_solid_compound_of_the_word_repaired() -> None:
    r = clean_text("The clinic fitted a crown crown crowning tooth.")
    assert r.clean_text == "The clinic fitted a crown crowning tooth."
    assert r.edits[0].reason == "'crown' doubled back to back"


# --- names with a dot inside --------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "The interview ran on Lenta.Ru first.",
    "Editors at Delfi.Lt checked the quotes.",
])
def test_outlet_name_with_a_two_letter_domain_kept(raw: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == [] and r.flags == []


def test_dotted_name_with_no_sentence_after_it_is_flagged_not_split() -> None:
    raw = "As Kyiv.Post wrote, the vote was close."
    r = clean_text(raw)
    assert r.clean_text == raw
    assert [(f.rule, f.text) for f in r.flags] == [("punctuation_spacing", "Kyiv.Post")]
    assert "no common sentence opener" in r.flags[0].message


def test_dotted_name_used_twice_is_kept() -> None:
    raw = "Meduza.Project published it. Later Meduza.Project added a map."
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == [] and r.flags == []


@pytest.mark.parametrize(("raw", "clean"), [
    ("The talks were held in Kyiv.The vote is next week.",
     "The talks were held in Kyiv. The vote is next week."),
    ("Shops close early on Friday.Buses run late.", "Shops close early on Friday. Buses run late."),
    ("The minister said.Police arrived.", "The minister said. Police arrived."),
])
def test_missing_space_before_a_sentence_still_added(raw: str, clean: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == clean
    assert rules_of(r.edits) == ["punctuation_spacing"]


# --- "as X as X ..." and idioms that repeat a phrase ---------------------------------------------------

@pytest.mark.parametrize("raw", [
    "The new hall is as tall as Tall Pines, the hotel across the road.",
    "The storm was as bad as bad storms get here.",
    "It is time we called a spade a spade.",
    "The old friends walked arm in arm in the square.",
    "The runners finished side by side by the lake.",
    "She knocked and knocked and knocked, but no one came.",
])
def test_phrase_repeat_english_makes_kept(raw: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == [] and r.flags == []


@pytest.mark.parametrize(("raw", "clean"), [
    ("Bring tea as well as well as coffee.", "Bring tea as well as coffee."),
    ("He served as a clerk for clerk for ten years.", "He served as a clerk for ten years."),
])
def test_phrase_repeat_look_alikes_still_repaired(raw: str, clean: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == clean
    assert rules_of(r.edits) == ["duplicate_phrase"]


# --- a name that is also a word ----------------------------------------------------------------------

def test_word_then_a_name_that_begins_with_it_kept() -> None:
    raw = "Grace Grace Okafor wins the prize, the jury said."
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == [] and r.flags == []


def test_word_or_name_at_the_start_with_no_name_after_is_flagged() -> None:
    raw = "Will Will join the team in June?"
    r = clean_text(raw)
    assert r.clean_text == raw
    assert [(f.rule, f.text) for f in r.flags] == [("duplicate_word", "Will Will")]
    assert "opens the sentence" in r.flags[0].message


def test_title_doubled_before_a_name_still_repaired() -> None:
    raw = "Mayor Mayor Ines Ruiz opened the bridge. The Mayor spoke briefly."
    r = clean_text(raw)
    assert r.clean_text == "Mayor Ines Ruiz opened the bridge. The Mayor spoke briefly."
    assert rules_of(r.edits) == ["duplicate_word"]


# --- spelled-out letters ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "He spelled it for the clerk: b o o k.",
    "The banner read w e l l d o n e in gold.",
    "The grades were A A B, better than last year.",
])
def test_letters_spelled_out_kept(raw: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == []


def test_doubled_article_still_repaired() -> None:
    r = clean_text("It was a a long night.")
    assert r.clean_text == "It was a long night."


# --- prepositions that English can double --------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "The village they moved to to find work is empty now.",
    "The inn we ate at at noon has closed.",
    "Please hand the keys in in person.",
])
def test_stranded_or_particle_preposition_kept(raw: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == []


def test_the_noun_can_before_the_modal_kept() -> None:
    raw = "The can can hold a litre."
    assert clean_text(raw).clean_text == raw


# --- loops of four or more copies ----------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "clean", "why"), [
    ("Bye Bye Bye Bye Bye Bye Bye Crash Zero was the title.", "Bye Bye Crash Zero was the title.",
     "'Bye' 7 times in a row: a decoding loop of the reduplication 'bye bye', cut to its two copies"),
    ("The plan was very very very very good.", "The plan was very very good.",
     "'very' 4 times in a row: a decoding loop of the reduplication 'very very', cut to its two "
     "copies"),
    ("The road road road road closed.", "The road closed.", "'road' 4 times in a row: a decoding loop"),
])
def test_loop_of_four_or_more_repaired_to_the_idiom_count(raw: str, clean: str, why: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == clean
    assert rules_of(r.edits) == ["duplicate_word"]
    assert r.edits[0].reason == why


def test_loop_of_a_sound_word_is_flagged() -> None:
    raw = "He typed ha ha ha ha ha ha ha and logged off."
    r = clean_text(raw)
    assert r.clean_text == raw
    assert [(f.rule, f.text) for f in r.flags] == [("duplicate_word", "ha ha ha ha ha ha ha")]


def test_three_copies_of_a_word_english_does_not_repeat_still_repaired() -> None:
    r = clean_text("The shop stays open till till till late.")
    assert r.clean_text == "The shop stays open till late."


# --- doubles that differ only in case ------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "clean", "why"), [
    ("Scott's ALIEN Alien opened in May. Alien was a hit.", "Scott's Alien opened in May. Alien was a hit.",
     "'ALIEN' then 'Alien': the document writes 'Alien' 1 time single and 'ALIEN' never"),
    ("The shop is shut for two weeks Weeks in August. Two weeks is long.",
     "The shop is shut for two weeks in August. Two weeks is long.",
     "'weeks' then 'Weeks': the document writes 'weeks' 1 time single and 'Weeks' never"),
    ("We sailed on the lake Lake Geneva all day.", "We sailed on the Lake Geneva all day.",
     "'lake' (NN) before the name that begins with 'Lake': the name's translation beside it"),
])
def test_case_variant_double_repaired_with_the_documents_evidence(raw: str, clean: str,
                                                                  why: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == clean
    assert rules_of(r.edits) == ["duplicate_word"]
    assert r.edits[0].reason == why


def test_case_variant_double_with_no_evidence_is_flagged() -> None:
    raw = "They stayed for days Days in the hills."
    r = clean_text(raw)
    assert r.clean_text == raw
    assert [(f.rule, f.text) for f in r.flags] == [("duplicate_word", "days Days")]


def test_word_then_acronym_name_kept() -> None:
    raw = "It was the first FIRST Lego event in town."
    assert clean_text(raw).clean_text == raw


# --- doubles that stay -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    "Had we had the money, we would have stayed.",
    "They said that that road was closed.",
    "The dancer Shan Shan trained in Hangzhou, and Shan Shan still teaches there.",
])
def test_doubles_that_stay(raw: str) -> None:
    assert clean_text(raw).clean_text == raw
