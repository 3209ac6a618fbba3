"""GUM's PER/ORG/LOC gold in ``../shared/data/ner_gold/`` (read where it is, never copied here),
and scoring it the way ``../shared/tools/score_ner_gold.py`` does: spaCy's labels mapped to the
gold's three, exact spans counted as multisets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ner_gold" / "docs.jsonl"
MAP = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC"}
LABELS = ("PER", "ORG", "LOC")


def prf(pred: list, gold: list) -> tuple[float, float, float]:
    """Precision, recall and F1 of exact matches (multisets, as the shared scorer)."""
    p, g = Counter(pred), Counter(gold)
    tp = sum((p & g).values())
    if not tp:
        return 0.0, 0.0, 0.0
    prec, rec = tp / sum(p.values()), tp / sum(g.values())
    return prec, rec, 2 * prec * rec / (prec + rec)
