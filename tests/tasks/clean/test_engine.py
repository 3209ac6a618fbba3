"""The edit engine: offsets in raw and clean text, replay, overlap handling, OffsetMap."""

from __future__ import annotations

from tasks.clean import AppliedEdit, CleanConfig, OffsetMap, clean_text, replay
from tasks.clean.engine import Edit, Flag, Rule, run_rules


def rules_of(edits: list) -> list[str]:
    return [e.rule for e in edits]


def test_edit_records_raw_and_clean_offsets() -> None:
    raw = "The talks covered trade , including including energy."
    r = clean_text(raw)
    assert r.clean_text == "The talks covered trade, including energy."
    assert rules_of(r.edits) == ["punctuation_spacing", "duplicate_word"]
    for e in r.edits:
        assert raw[e.raw_start:e.raw_end] == e.before
        assert r.clean_text[e.clean_start:e.clean_end] == e.after
    assert replay(raw, r.edits) == r.clean_text


def test_clean_text_without_artifacts_has_no_edits() -> None:
    raw = "Ministers met in Geneva on Monday. They agreed to talk again in May."
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == []
    assert r.flags == []


def test_later_rule_sees_output_of_earlier_rule() -> None:
    # the NBSP is fixed by whitespace first; only then is "the the" a doubled word
    raw = "He saw the\u00a0the ship."
    r = clean_text(raw)
    assert r.clean_text == "He saw the ship."
    assert rules_of(r.edits) == ["duplicate_word"]
    assert r.edits[0].before == "\u00a0the"


def test_overlapping_proposals_first_wins() -> None:
    def propose(text: str) -> list[Edit]:
        return [Edit(0, 3, "X", "a"), Edit(2, 5, "Y", "a")]

    r = run_rules("abcdefg", [Rule("a", propose)])
    assert r.clean_text == "Xdefg"
    assert r.edits == [AppliedEdit("a", 0, 3, 0, 1, "abc", "X")]


def test_edit_is_trimmed_to_changed_characters() -> None:
    r = run_rules("one two three", [Rule("a", lambda t: [Edit(0, 13, "one 2 three", "a")])])
    assert r.edits == [AppliedEdit("a", 4, 7, 4, 5, "two", "2")]


def test_edit_outside_text_is_an_error() -> None:
    import pytest

    with pytest.raises(ValueError, match="outside the text"):
        run_rules("abc", [Rule("a", lambda t: [Edit(2, 9, "", "a")])])


def test_flag_offsets_map_to_raw_and_clean() -> None:
    raw = "Prices  rose in Asia. central banks held rates."
    r = clean_text(raw)
    assert r.clean_text == "Prices rose in Asia. central banks held rates."
    assert [(f.rule, f.text) for f in r.flags] == [("broken_sentence", "Asia. central")]
    f = r.flags[0]
    assert raw[f.raw_start:f.raw_end] == "Asia. central"
    assert r.clean_text[f.clean_start:f.clean_end] == "Asia. central"


def test_offset_map_round_trip() -> None:
    raw = "A  b c  d"
    r = clean_text(raw)
    assert r.clean_text == "A b c d"
    m = r.offsets
    assert m.to_clean(3, 4) == (2, 3)  # "b"
    assert m.to_raw(2, 3) == (3, 4)
    assert m.to_clean(8, 9) == (6, 7)  # "d"
    assert m.to_raw(6, 7) == (8, 9)


def test_offset_map_span_inside_an_edit_widens_to_the_edit() -> None:
    m = OffsetMap([AppliedEdit("x", 2, 5, 2, 3, "abc", "Z")])
    assert m.to_clean(3, 4) == (2, 3)
    assert m.to_raw(2, 3) == (2, 5)
    assert m.to_clean(6, 7) == (4, 5)


def test_rules_can_be_switched_off() -> None:
    raw = "The the talks , ended."
    r = clean_text(raw, CleanConfig(rules=("punctuation_spacing",)))
    assert r.clean_text == "The the talks, ended."
    assert rules_of(r.edits) == ["punctuation_spacing"]


def test_unknown_rule_names_the_available_ones() -> None:
    import pytest

    with pytest.raises(ValueError, match="available: encoding, whitespace"):
        CleanConfig(rules=("spelling",))


def test_flag_from_a_rule_function() -> None:
    r = run_rules("abc def", [Rule("a", lambda t: [Flag(4, 7, "a", "look")])])
    assert [(f.rule, f.text, f.clean_start, f.clean_end) for f in r.flags] == [("a", "def", 4, 7)]


def test_public_names_and_rule_order_are_stable() -> None:
    from tasks.clean import RULE_NAMES, cleaner_version

    assert RULE_NAMES == ("encoding", "whitespace", "hyphenation", "boilerplate_line",
                          "punctuation_spacing", "duplicate_sentence", "duplicate_phrase",
                          "duplicate_word", "glossary", "broken_sentence")
    assert cleaner_version(CleanConfig()) == cleaner_version(CleanConfig())
    assert cleaner_version(CleanConfig()) != cleaner_version(CleanConfig(exceptions=("x x",)))


def test_second_repetition_round_runs_only_after_a_repetition_edit() -> None:
    calls: list[str] = []

    def spy(text: str) -> list[Edit]:
        calls.append(text)
        return []

    rules = [Rule("a", lambda t: []), Rule("b", spy, only_after=frozenset({"a"}))]
    assert run_rules("x y", rules).clean_text == "x y"
    assert calls == []
    rules[0] = Rule("a", lambda t: [Edit(0, 1, "z", "a")] if t[0] == "x" else [])
    assert run_rules("x y", rules).clean_text == "z y"
    assert calls == ["z y"]
