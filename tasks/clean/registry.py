"""How a rule module declares its rules, and the rule set the package builds from them.

A rule module says, next to the rule's code, everything the package needs to know about it:

    RULES = (RuleSpec("hyphenation", propose=hyphenation, passes=2),)

The package only lists the modules in the order their rules run (``tasks/clean/__init__.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import TYPE_CHECKING

from tasks.clean.engine import Rule, RuleFn

if TYPE_CHECKING:  # the package's own types; importing them here would be circular
    from tasks.clean import CleanConfig
    from tasks.clean.evidence import BatchEvidence

Maker = Callable[["CleanConfig", "BatchEvidence"], RuleFn]


@dataclass(frozen=True)
class RuleSpec:
    """One rule as its module declares it.

    ``propose`` for a rule that needs only the text, or ``make(config, evidence)`` for one that
    needs the user's settings or what the batch says. ``round``: the rules of one named round
    run once more together, after the last of them, when any of them edited. ``again_after``:
    the rule runs once more right after that rule, when it edited. ``decided_with``: the data
    the rule decides with (word lists, a tagger), part of ``cleaner_version``.
    """

    name: str
    propose: RuleFn | None = None
    make: Maker | None = None
    passes: int = 1
    round: str = ""
    again_after: str = ""
    decided_with: Callable[[], dict[str, object]] | None = None

    def __post_init__(self) -> None:
        if (self.propose is None) == (self.make is None):
            raise ValueError(f"rule {self.name!r}: declare exactly one of propose= or make=")

    def rule(self, config: CleanConfig, evidence: BatchEvidence) -> Rule:
        propose = self.propose if self.propose is not None else self.make(config, evidence)
        return Rule(self.name, propose, passes=self.passes)


@dataclass(frozen=True)
class RuleSet:
    """The declared rules of some modules, in the order the modules are given."""

    specs: tuple[RuleSpec, ...]

    @classmethod
    def of(cls, modules: Sequence[ModuleType]) -> RuleSet:
        specs: list[RuleSpec] = []
        for module in modules:
            declared = getattr(module, "RULES", None)
            if not declared:
                raise ValueError(f"module {module.__name__} declares no RULES")
            specs.extend(declared)
        names = [s.name for s in specs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"cleaning rule(s) declared twice: {', '.join(twice)}")
        return cls(tuple(specs))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    def check(self, names: Sequence[str]) -> None:
        """Fail naming the rules available when a name is not one of them."""
        unknown = [r for r in names if r not in self.names]
        if unknown:
            raise ValueError(f"unknown cleaning rule(s) {', '.join(map(repr, unknown))}; "
                             f"available: {', '.join(self.names)}")

    def decided_with(self) -> dict[str, object]:
        """What every declared rule decides with, merged (whether or not a config enables it)."""
        data: dict[str, object] = {}
        for spec in self.specs:
            if spec.decided_with is not None:
                data.update(spec.decided_with())
        return data

    def build(self, config: CleanConfig, evidence: BatchEvidence,
              enabled: Sequence[str] | None = None) -> tuple[Rule, ...]:
        """The rules enabled (by default ``config.rules``), in order, with their second rounds."""
        enabled = config.rules if enabled is None else enabled
        self.check(enabled)
        specs = [s for s in self.specs if s.name in enabled]
        rules = [s.rule(config, evidence) for s in specs]
        for name in dict.fromkeys(s.round for s in specs if s.round):
            members = frozenset(s.name for s in self.specs if s.round == name)
            enabled = [r for r in rules if r.name in members]
            at = rules.index(enabled[-1]) + 1
            rules[at:at] = [replace(r, only_after=members) for r in enabled]
        for spec in specs:
            names = [r.name for r in rules]
            if spec.again_after and spec.again_after in names:
                again = replace(rules[names.index(spec.name)],
                                only_after=frozenset({spec.again_after}))
                rules.insert(names.index(spec.again_after) + 1, again)
        return tuple(rules)
