from __future__ import annotations

import random
import re

from eval.entities_corrupted import RATES, apply_edits, carry, corrupt

TEXT = ("Anna Berg met officials of the Bank of Chile in Santiago on Monday, and they talked "
        "about copper prices.")
NAMES = [(0, 9, "PER"), (31, 44, "ORG"), (48, 56, "LOC")]  # Anna Berg, Bank of Chile, Santiago


def test_apply_edits_replaces_and_inserts() -> None:
    assert apply_edits("ab cd", [(1, 1, "X"), (3, 5, "ef")]) == "aXb ef"


def test_names_move_widen_and_stay_on_the_first_copy() -> None:
    edits = [
        (4, 4, "\u200b"),  # inside "Anna": the name widens over it
        (9, 9, " berg"),  # a doubled word after the name: the copy is outside
        (38, 38, " of"),  # "Bank of of Chile": inside, widens
        (51, 52, "\u00a0"),  # replaced inside "Santiago" (as a stand-in for a changed quote)
        (66, 66, " "),  # "Monday ," after the names: nothing moves
    ]
    broken = apply_edits(TEXT, edits)
    assert broken.startswith("Anna\u200b Berg berg met officials of the Bank of of Chile in San")
    carried = carry([(s, e) for s, e, _ in NAMES], edits)
    assert [(broken[s:e], hit) for s, e, hit in carried] == [
        ("Anna\u200b Berg", True), ("Bank of of Chile", True), ("San\u00a0iago", True)]


def test_edits_at_a_names_edges_move_it_without_touching_it() -> None:
    edits = [(0, 0, "Read more: x\n\n"), (13, 14, ""), (56, 56, " in")]
    broken = apply_edits(TEXT, edits)
    carried = carry([(s, e) for s, e, _ in NAMES], edits)
    assert [(broken[s:e], hit) for s, e, hit in carried] == [
        ("Anna Berg", False), ("Bank of Chile", False), ("Santiago", False)]


# Paragraphs long enough for the injector (it works on lines of running text of 80+ characters).
STORY = (
    "Maria Lopez said the Atlantic Fisheries Council would meet in Lisbon next week to discuss "
    "the decline of sardine stocks along the coast.\n\n"
    "The council, which represents fishermen from Portugal and Spain, has asked the European "
    "Commission for emergency funding. Lopez told reporters in Porto that “the season is already "
    "lost” for many families.\n\n"
    "Scientists at the University of Aveiro estimate that stocks have fallen by nearly half "
    "since 2015, according to a report published on Tuesday by the institute."
)


def _words(span: str) -> list[str]:
    """The words of a span with injected zero-width characters, odd spaces and repeats undone."""
    words = re.sub("[\u200b\ufeff\u00ad]", "", span).split()
    return [w for i, w in enumerate(words) if i == 0 or w.lower() != words[i - 1].lower()]


def test_corrupted_gold_lands_on_the_same_words() -> None:
    names = [(m.start(), m.end(), label) for pattern, label in [
        (r"Maria Lopez|Lopez", "PER"), (r"Atlantic Fisheries Council|European Commission|"
                                       r"University of Aveiro", "ORG"),
        (r"Lisbon|Portugal|Spain|Porto", "LOC")] for m in re.finditer(pattern, STORY)]
    names.sort()
    dense = {kind: 20.0 for kind in RATES}  # far denser than the measure's, to hit names
    for seed in range(20):
        cor = corrupt(STORY, names, random.Random(seed), dense)
        assert cor.text != STORY
        assert len(cor.gold) == len(names)
        for (s, e, label), (cs, ce, clabel) in zip(names, cor.gold):
            assert clabel == label
            assert _words(cor.text[cs:ce]) == STORY[s:e].split(), (seed, cor.text[cs:ce])
        assert sum(cor.touched.values()) <= len(names)
    # over the seeds, some names were changed inside and some copied by a doubled sentence
    totals = [corrupt(STORY, names, random.Random(seed), dense) for seed in range(20)]
    assert sum(sum(c.touched.values()) for c in totals) > 0
    assert sum(sum(c.copied.values()) for c in totals) > 0


def test_injections_are_placed_in_the_corrupted_text() -> None:
    cor = corrupt(STORY, [], random.Random(3), {kind: 20.0 for kind in RATES})
    assert cor.injections
    for s, e, kind in cor.injections:
        assert s < e, kind
        if kind == "boilerplate_line":
            assert cor.text[s:e].endswith("\n\n") and cor.text[s:e] not in STORY
