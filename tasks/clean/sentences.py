"""Rule family ``broken_sentence``: sentence breaks machine translation put in the wrong place."""

from __future__ import annotations

import re

from tasks.clean.engine import Flag
from tasks.clean.registry import RuleSpec

# Words after which a period does not end a sentence.
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt ft gen col lt sgt capt gov sen rep rev fr hon pres "
    "vs etc e.g i.e cf al approx ca no nos vol p pp fig op ed eds inc ltd co corp dept est "
    "jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun "
    "u.s u.k u.n a.m p.m ph.d".split()
)
# (each lookbehind is written after the mark it ends with, the same test: a pattern that starts
# with a character set is searched for at C speed, one that starts with a lookbehind is not)
_BREAK = re.compile(r"([.!?])(?<=\w[.!?])[ ]+([a-z][a-z'\u2019-]*)\b")
_TOKEN_BEFORE = re.compile(r"(\S+)$")

# A short capitalised sentence after a period: "... between Kenya and the region. Tanzania in
# the spring." Without a tagger, a finite verb is recognised from a closed list, a past form
# (-ed) or a subject pronoun; a fragment with none of them is flagged.
# (at most 100 characters: longer sentences are not short fragments, and need no look)
_FRAGMENT = re.compile(
    r"\.(?<=[a-z]\.)[ ]+([A-Z][^.!?\n\"\u201c\u201d\u2018\u2019]{0,100}[.!?])(?=\s|\Z)")
_FRAGMENT_WORD = re.compile(r"[A-Za-z]+")
MAX_FRAGMENT_WORDS = 9
_VERB_STEMS = (
    "be am is are was were been being has have had having do does did done will would shall "
    "should can could may might must need needs ought say says said tell tells told ask asks "
    "asked go goes went gone come comes came get gets got make makes made take takes took taken "
    "give gives gave given see sees saw seen know knows knew known think thinks thought find "
    "finds found leave leaves left begin begins began begun become becomes became keep keeps "
    "kept hold holds held bring brings brought stand stands stood run runs ran win wins won "
    "lose loses lost rise rises rose risen fall falls fell fallen grow grows grew grown show "
    "shows showed shown meet meets met pay pays paid put puts set sets cut cuts let lets seem "
    "seems mean means meant want wants plan plans expect expects remain remains continue "
    "continues start starts end ends open opens close closes include includes report reports "
    "add adds call calls face faces follow follows help helps lead leads led look looks move "
    "moves play plays reach reaches send sends sent sell sells sold spend spends spent build "
    "builds built buy buys bought hope hopes try tries use uses work works live lives die dies "
    "agree agrees believe believes feel feels felt hear hears heard speak speaks spoke write "
    "writes wrote written read reads allow allows argue argues claim claims warn warns urge "
    "urges deny denies insist insists note notes stay stays turn turns appear appears happen "
    "happens provide provides offer offers serve serves suggest suggests cost costs"
).split()
_VERBS = frozenset(_VERB_STEMS)
_PRONOUNS = frozenset("i you he she it we they".split())
_PAST_NOT_VERB = frozenset("red bed shed need seed feed speed hundred indeed united".split())


def _has_verb(words: list[str]) -> bool:
    for w in words:
        low = w.lower()
        if low in _VERBS or low in _PRONOUNS:
            return True
        if w.islower() and low.endswith("ed") and len(low) > 4 and low not in _PAST_NOT_VERB:
            return True
        if w.islower() and low.endswith("n't"):
            return True
    return False


def _token_before(text: str, end: int) -> tuple[int, str]:
    before = _TOKEN_BEFORE.search(text, max(0, end - 200), end)  # not from 0: quadratic
    if before is None:
        return end, ""
    return before.start(1), before.group(1).lower().lstrip("(\"'\u201c\u2018")


def broken_sentence(text: str) -> list[Flag]:
    """Flags a sentence break followed by a lower-case word ("in Asia. central last
    September") unless the period closes an abbreviation, and a short capitalised fragment with
    no verb after a period ("the region. Tanzania in the spring."); the text is left as it is."""
    if ". " not in text and "? " not in text and "! " not in text:
        return []
    flags: list[Flag] = []
    for m in _BREAK.finditer(text):
        word = m.group(2)
        if any(c.isupper() for c in word[1:]):
            continue  # "eBay", "iPhone": brands that start in lower case
        start, token = _token_before(text, m.start(1))
        if m.group(1) == "." and (token in ABBREVIATIONS or len(token) == 1 or "." in token):
            continue
        flags.append(Flag(start, m.end(2), "broken_sentence",
                          f"sentence break before lower-case {word!r}: the sentence was likely "
                          "cut in the wrong place"))
    for m in _FRAGMENT.finditer(text):
        fragment = m.group(1)
        words = _FRAGMENT_WORD.findall(fragment)
        if not 2 <= len(words) <= MAX_FRAGMENT_WORDS or _has_verb(words):
            continue
        if words[-1].lower() in ABBREVIATIONS or len(words[-1]) == 1:
            continue  # "Historian Dr." is no sentence: the period closes an abbreviation
        start, token = _token_before(text, m.start())
        if token in ABBREVIATIONS or len(token) == 1 or "." in token:
            continue
        first = m.start(1) + len(words[0])
        flags.append(Flag(start, first, "broken_sentence",
                          f"short sentence without a verb after a period ({fragment!r}): "
                          "likely the end of the sentence before it"))
    return flags


RULES = (RuleSpec("broken_sentence", propose=broken_sentence),)
