"""Rules declared where they live: a module's ``RULES`` is all the package needs."""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import pkgutil
import sys
from dataclasses import asdict

import pytest

import tasks.clean
from tasks.clean import RULE_NAMES, RULES, CleanConfig, build_rules, cleaner_version
from tasks.clean.engine import run_rules
from tasks.clean.evidence import BatchEvidence
from tasks.clean.registry import RuleSet, RuleSpec

SHOUTING = '''
from tasks.clean.engine import Edit
from tasks.clean.registry import RuleSpec


def calm_down(text: str) -> list[Edit]:
    """"!!!" becomes "!"."""
    at = text.find("!!!")
    return [Edit(at, at + 3, "!", "shouting", "three exclamation marks")] if at >= 0 else []


RULES = (RuleSpec("shouting", propose=calm_down),)
'''


@pytest.fixture
def shouting(tmp_path):
    path = tmp_path / "shouting.py"
    path.write_text(SHOUTING)
    spec = importlib.util.spec_from_file_location("shouting", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.pop("shouting", None)
    return module


def test_a_modules_declaration_is_all_a_rule_needs(shouting) -> None:
    from tasks.clean import normalize

    rules = RuleSet.of([normalize, shouting])
    assert rules.names == ("encoding", "whitespace", "shouting")
    built = rules.build(CleanConfig(), BatchEvidence(), enabled=rules.names)
    assert [r.name for r in built] == ["encoding", "whitespace", "encoding", "shouting"]
    result = run_rules("Stop  it!!!", built)
    assert result.clean_text == "Stop it!"
    assert [(e.rule, e.reason) for e in result.edits] == [
        ("whitespace", result.edits[0].reason), ("shouting", "three exclamation marks")]
    with pytest.raises(ValueError, match="unknown cleaning rule.*'glossary'.*available: "
                                         "encoding, whitespace, shouting"):
        rules.build(CleanConfig(), BatchEvidence(), enabled=["glossary"])


def test_every_module_that_declares_rules_is_in_the_packages_order() -> None:
    declared = []
    for info in pkgutil.iter_modules(tasks.clean.__path__):
        module = importlib.import_module(f"tasks.clean.{info.name}")
        declared.extend(s.name for s in getattr(module, "RULES", ()) if isinstance(s, RuleSpec))
    assert sorted(declared) == sorted(RULE_NAMES)


def test_a_name_declared_twice_or_a_rule_without_code_is_refused(shouting) -> None:
    with pytest.raises(ValueError, match="declared twice: shouting"):
        RuleSet.of([shouting, shouting])
    with pytest.raises(ValueError, match="exactly one of propose= or make="):
        RuleSpec("nothing")


def test_rounds_and_second_looks_are_built_from_the_declarations() -> None:
    """The repetition round and encoding's second look after whitespace, as before the rules
    declared them."""
    rep = ["duplicate_phrase", "duplicate_sentence", "duplicate_word"]
    assert [(r.name, r.passes, sorted(r.only_after)) for r in build_rules(CleanConfig())] == [
        ("encoding", 4, []), ("whitespace", 3, []), ("encoding", 4, ["whitespace"]),
        ("hyphenation", 2, []), ("boilerplate_line", 2, []), ("punctuation_spacing", 4, []),
        ("duplicate_sentence", 3, []), ("duplicate_phrase", 3, []), ("duplicate_word", 3, []),
        ("duplicate_sentence", 3, rep), ("duplicate_phrase", 3, rep), ("duplicate_word", 3, rep),
        ("glossary", 1, []), ("broken_sentence", 1, [])]
    only = build_rules(CleanConfig(rules=("duplicate_word", "whitespace")))
    assert [(r.name, sorted(r.only_after)) for r in only] == [
        ("whitespace", []), ("duplicate_word", []), ("duplicate_word", rep)]


@pytest.mark.parametrize("config", [
    CleanConfig(),
    CleanConfig(rules=("encoding", "duplicate_word"), exceptions=("x x",),
                glossary=(("colour", "color"),)),
], ids=["default", "custom"])
def test_cleaner_version_is_what_the_package_computed_before(config: CleanConfig) -> None:
    """The digest as it was written out before rules declared their data: same settings, same
    string, so earlier outputs are not taken for another cleaner's."""
    from tasks.clean import CLEANER_RELEASE
    from tasks.clean.grammar import tagger_version
    from tasks.clean.repetition import (
        default_exceptions,
        interjections,
        phrasal_verbs,
        sound_words,
        word_names,
    )

    settings = {**asdict(config), "tagger": tagger_version(),
                "wordfreq": importlib.metadata.version("wordfreq"),
                "reduplications": sorted(default_exceptions()),
                "interjections": sorted(interjections()), "phrasal_verbs": sorted(phrasal_verbs()),
                "sound_words": sorted(sound_words()), "word_names": sorted(word_names())}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    assert cleaner_version(config) == f"{CLEANER_RELEASE}+{digest}"


def test_the_package_rule_set_is_the_one_config_checks() -> None:
    assert RULES.names == RULE_NAMES
    with pytest.raises(ValueError, match="unknown cleaning rule.*'spelling'.*available: encoding"):
        CleanConfig(rules=("spelling",))
