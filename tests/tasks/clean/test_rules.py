"""One test group per rule: inline texts, the expected clean text written in full, the rule named."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.clean import CleanConfig, clean_text
from tasks.clean.glossary import load_glossary


def rules_of(items: list) -> list[str]:
    return [e.rule for e in items]


# --- duplicate_word ------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "clean"), [
    ("Leaders met on a host of issues, including including trade.",
     "Leaders met on a host of issues, including trade."),
    ("The the talks ended on Monday.", "The talks ended on Monday."),
    ("Rates rose in in May.", "Rates rose in May.") if False else
    ("Rates rose for for the third month.", "Rates rose for the third month."),
])
def test_duplicate_word_removed(raw: str, clean: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == clean
    assert rules_of(r.edits) == ["duplicate_word"]


@pytest.mark.parametrize("raw", [
    "We had had three difficult years.",
    "Some say that that is no bad thing.",
    "What it is is a question of money.",
    "It was very, very cold.",
    "No, no, we will not sign, she said.",
    "Flights to Bora Bora, Walla Walla and Pago Pago are full.",
    "Baden-Baden hosted Duran Duran and Talk Talk.",
    "Sirhan Sirhan was moved from Sing Sing prison.",
    "The final score was 10 10 after extra time.",
])
def test_duplicate_word_kept(raw: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == []


def test_duplicate_word_unknown_capitalised_name_is_flagged_not_edited() -> None:
    r = clean_text("The pianist Xi Xi played on Sunday.")
    assert r.clean_text == "The pianist Xi Xi played on Sunday."
    assert [(f.rule, f.text) for f in r.flags] == [("duplicate_word", "Xi Xi")]


def test_duplicate_word_user_exceptions() -> None:
    raw = "They danced the cha cha and the tutu tutu all night."
    assert clean_text(raw).clean_text == "They danced the cha cha and the tutu all night."
    kept = clean_text(raw, CleanConfig(exceptions=("tutu tutu",)))
    assert kept.clean_text == raw
    assert kept.edits == []


# --- duplicate_phrase / duplicate_sentence -------------------------------------------------------

def test_duplicate_phrase_removed() -> None:
    r = clean_text("The ship sailed in the direction in the direction of the port.")
    assert r.clean_text == "The ship sailed in the direction of the port."
    assert rules_of(r.edits) == ["duplicate_phrase"]
    assert r.edits[0].before == " in the direction"


def test_duplicate_phrase_after_opening_quote() -> None:
    r = clean_text("He said the bank was “fighting the last fighting the last war.”")
    assert r.clean_text == "He said the bank was “fighting the last war.”"
    assert rules_of(r.edits) == ["duplicate_phrase"]


@pytest.mark.parametrize("raw", [
    "Scores: 1 2 1 2 in the final rounds.",
    "It was a long, long way, a long, long way home.",
    "They shouted: go home, go home!",
])
def test_duplicate_phrase_kept(raw: str) -> None:
    assert clean_text(raw).edits == []


def test_duplicate_sentence_removed() -> None:
    raw = "The meeting ended late on Friday. The meeting ended late on Friday. Nobody spoke."
    r = clean_text(raw)
    assert r.clean_text == "The meeting ended late on Friday. Nobody spoke."
    assert rules_of(r.edits) == ["duplicate_sentence"]


def test_short_repeated_sentence_kept() -> None:
    raw = "“Never again.” “Never again.” the crowd chanted."
    assert clean_text(raw).clean_text == raw


# --- punctuation_spacing -------------------------------------------------------------------------

def test_space_before_punctuation_removed() -> None:
    raw = "He said , then left . Why ? Because ; first : yes ! (see below ) and “this ” ok."
    r = clean_text(raw)
    assert r.clean_text == "He said, then left. Why? Because; first: yes! (see below) and “this” ok."
    assert set(rules_of(r.edits)) == {"punctuation_spacing"}
    assert len(r.edits) == 8


def test_missing_space_after_sentence_added() -> None:
    r = clean_text("The minister said.The talks failed.")
    assert r.clean_text == "The minister said. The talks failed."
    assert rules_of(r.edits) == ["punctuation_spacing"]
    assert (r.edits[0].before, r.edits[0].after) == ("", " ")


def test_marks_uncovered_one_by_one_settle_in_one_cleaning() -> None:
    """Removing the spaces before "." glues "Aaaaaa" to it, and only then can the space after
    the "," be seen missing: one cleaning does all of it (found by the property tests)."""
    r = clean_text("The talks ended  .Aaaaaa  ,the minister said.")
    assert r.clean_text == "The talks ended. Aaaaaa, the minister said."
    assert clean_text(r.clean_text).edits == []


@pytest.mark.parametrize("raw", [
    "Growth was 3.5 percent.",
    "Trading opened at 10.30 on Monday.",
    "U.S. officials met at the U.N. on Friday.",
    "The plan is at https://example.org/plan.pdf and www.example.com today.",
    "Write to press.office@example.com for details.",
    "The figures are in report.pdf and data.csv, the ministry said.",
    "He paused ... and then went on.",
    "She waited… then spoke.",
])
def test_punctuation_look_alikes_untouched(raw: str) -> None:
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == []


# --- encoding ------------------------------------------------------------------------------------

def test_mojibake_repaired() -> None:
    r = clean_text("Zelenskyyâ€™s office said â€œyesâ€\x9d.")
    assert r.clean_text == "Zelenskyy’s office said “yes”."
    assert set(rules_of(r.edits)) == {"encoding"}


def test_html_entities_unescaped() -> None:
    r = clean_text("Profits &amp; losses rose 5&#37; in Bras&iacute;lia.")
    assert r.clean_text == "Profits & losses rose 5% in Brasília."
    assert set(rules_of(r.edits)) == {"encoding"}


def test_control_and_zero_width_characters_removed() -> None:
    r = clean_text("The zero\u200bwidth\x07 space\ufeff is gone.")
    assert r.clean_text == "The zerowidth space is gone."
    assert set(rules_of(r.edits)) == {"encoding"}


def test_nfc_normalised() -> None:
    r = clean_text("The cafe\u0301 opened.")
    assert r.clean_text == "The caf\u00e9 opened."
    assert rules_of(r.edits) == ["encoding"]


def test_correct_unicode_untouched() -> None:
    raw = "“Café” in Zürich, Kraków and São Paulo — 👍🏽 and שלום."
    assert clean_text(raw).clean_text == raw


# --- whitespace ----------------------------------------------------------------------------------

def test_whitespace_normalised() -> None:
    raw = "A\ttab and a\u00a0no-break space and  a   run.  \r\nNext line.\r\n\r\n\r\n\r\nLast."
    r = clean_text(raw)
    assert r.clean_text == "A tab and a no-break space and a run.\nNext line.\n\nLast."
    assert set(rules_of(r.edits)) == {"whitespace"}


def test_paragraph_breaks_kept() -> None:
    raw = "First paragraph.\n\nSecond paragraph.\n"
    assert clean_text(raw).clean_text == raw


# --- hyphenation ---------------------------------------------------------------------------------

def test_word_broken_at_line_end_joined() -> None:
    r = clean_text("The interna-\ntional community met.")
    assert r.clean_text == "The international community met."
    assert rules_of(r.edits) == ["hyphenation"]


def test_compound_keeps_its_hyphen() -> None:
    r = clean_text("The long-\nawaited deal was signed.")
    assert r.clean_text == "The long-awaited deal was signed."
    assert rules_of(r.edits) == ["hyphenation"]
    assert (r.edits[0].before, r.edits[0].after) == ("\n", "")


def test_dash_at_line_end_before_capital_kept() -> None:
    raw = "Costs rose -\nPrices fell."
    assert clean_text(raw).clean_text == raw


# --- boilerplate_line ----------------------------------------------------------------------------

ARTICLE = (
    "PAPEETE, April 14 (Newswire) - Tourism on the islands has recovered, officials said.\n\n"
    "Hotels on the islands were full for most of the season, the tourism council said.\n\n"
    "{inject}"
    "Water Supplies Under Pressure\n\n"
    "The council asked hotels to save water on the hottest days of the season.\n\n"
    "Officials expect tourism to keep growing next year."
)


@pytest.mark.parametrize("line", [
    "Read more: Five things to know about the island canoe final",
    "Share this article",
    "ADVERTISEMENT",
    "Bakery chain recalls croissants over allergy fears",
])
def test_boilerplate_line_removed(line: str) -> None:
    r = clean_text(ARTICLE.format(inject=line + "\n\n"))
    assert r.clean_text == ARTICLE.format(inject="")
    assert rules_of(r.edits) == ["boilerplate_line"]


def test_title_dateline_and_title_case_subheading_kept() -> None:
    raw = "Islands Report Record Season\n\n" + ARTICLE.format(inject="")
    r = clean_text(raw)
    assert r.clean_text == raw
    assert r.edits == []


# --- broken_sentence -----------------------------------------------------------------------------

def test_lower_case_continuation_flagged() -> None:
    raw = "They met at a summit in Asia. central last September."
    r = clean_text(raw)
    assert r.clean_text == raw
    assert [(f.rule, f.text) for f in r.flags] == [("broken_sentence", "Asia. central")]


def test_verbless_capitalised_fragment_flagged() -> None:
    raw = "A deal was signed between Kenya and the region. Tanzania in the spring. More followed."
    r = clean_text(raw)
    assert r.clean_text == raw
    assert [(f.rule, f.text) for f in r.flags] == [("broken_sentence", "region. Tanzania")]


@pytest.mark.parametrize("raw", [
    "U.S. officials said the talks went well.",
    "The clinic is run by a charity. Dr. Ahmed Karimi founded it.",
    "Sales rose in December. eBay said orders were up.",
    "Was the deal a success? Partly. Officials said so.",
    "The players nodded. The final began.",
    "Talks resume in Room No. 4 on Thursday.",
])
def test_legit_sentence_breaks_not_flagged(raw: str) -> None:
    assert clean_text(raw).flags == []


# --- glossary ------------------------------------------------------------------------------------

GLOSSARY = CleanConfig(glossary=(("Kiev", "Kyiv"), ("Zelensky", "Zelenskyy")))


def test_glossary_replaces_keeping_case() -> None:
    r = clean_text("Kiev said KIEV and Kiev-based groups met Zelensky in Kiev.", GLOSSARY)
    assert r.clean_text == "Kyiv said KYIV and Kyiv-based groups met Zelenskyy in Kyiv."
    assert set(rules_of(r.edits)) == {"glossary"}


def test_glossary_respects_word_boundaries() -> None:
    raw = "Kievan Rus and Zelenskyy were named."
    r = clean_text(raw, GLOSSARY)
    assert r.clean_text == raw
    assert r.edits == []


def test_glossary_loaded_from_file(tmp_path: Path) -> None:
    path = tmp_path / "glossary.tsv"
    path.write_text("# variant\tpreferred\nKharkov\tKharkiv\n\nOdessa\tOdesa\n", "utf-8")
    assert load_glossary(path) == {"Kharkov": "Kharkiv", "Odessa": "Odesa"}
    config = CleanConfig.from_options(glossary_path=str(path))
    assert clean_text("From Kharkov to Odessa.", config).clean_text == "From Kharkiv to Odesa."


def test_glossary_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "glossary.tsv"
    path.write_text("Kiev Kyiv\n", "utf-8")
    with pytest.raises(ValueError, match="glossary.tsv:1: expected 'variant<TAB>preferred'"):
        load_glossary(path)


def test_shipped_example_glossary_loads() -> None:
    root = Path(__file__).resolve().parents[3]
    entries = load_glossary(root / "config" / "glossary.example.tsv")
    assert entries["Kiev"] == "Kyiv"
    assert entries["Zelensky"] == "Zelenskyy"


def test_glossary_with_a_byte_order_mark_keeps_its_first_entry(tmp_path: Path) -> None:
    """Issue 14, finding 8: a TSV saved by a spreadsheet starts with a UTF-8 BOM."""
    path = tmp_path / "glossary.tsv"
    path.write_bytes("\ufeffKharkov\tKharkiv\nOdessa\tOdesa\n".encode())
    assert load_glossary(path) == {"Kharkov": "Kharkiv", "Odessa": "Odesa"}
