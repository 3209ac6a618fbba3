"""Rule family ``glossary``: a user's list of known mistranslations and spelling variants."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tasks.clean.engine import Edit
from tasks.clean.registry import RuleSpec


def load_glossary(path: str | Path) -> dict[str, str]:
    """Read ``variant<TAB>preferred`` lines (``#`` starts a comment)."""
    entries: dict[str, str] = {}
    for n, line in enumerate(Path(path).read_text("utf-8-sig").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ValueError(f"{path}:{n}: expected 'variant<TAB>preferred', got {line!r}")
        entries[parts[0].strip()] = parts[1].strip()
    return entries


def _match_case(found: str, preferred: str) -> str:
    if found.isupper() and len(found) > 1:
        return preferred.upper()
    if found[0].isupper():
        return preferred[0].upper() + preferred[1:]
    return preferred


@dataclass(frozen=True)
class Glossary:
    """Replaces each variant on word boundaries, keeping the case it was written in."""

    entries: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        alternatives = sorted((re.escape(v) for v, _ in self.entries), key=len, reverse=True)
        object.__setattr__(self, "_pattern",
                           re.compile(rf"(?<![\w-])(?:{'|'.join(alternatives)})(?!\w)", re.I)
                           if alternatives else None)
        object.__setattr__(self, "_lookup", {v.lower(): p for v, p in self.entries})

    def __call__(self, text: str) -> list[Edit]:
        pattern = self._pattern  # type: ignore[attr-defined]
        if pattern is None:
            return []
        edits = []
        for m in pattern.finditer(text):
            preferred = _match_case(m.group(), self._lookup[m.group().lower()])  # type: ignore[attr-defined]
            if preferred != m.group():
                edits.append(Edit(m.start(), m.end(), preferred, "glossary"))
        return edits


RULES = (RuleSpec("glossary", make=lambda config, evidence: Glossary(config.glossary)),)
