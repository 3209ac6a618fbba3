"""Corpus-wide entity grouping against hand-labelled clusters: ``python -m eval.entity_groups``.

Gold (``eval/entities/groups.json``): invented stories, each the (canonical, label) names the
per-document pipeline publishes for it, and the clusters of names that are one thing (a name in
no cluster is alone); a story may have its text (``texts``), where each of its names is placed at
its first occurrence, so the acronyms the text defines count as in a run. The stories become
``entities`` and ``documents`` tables, go through
``build_entity_index`` as a run's would, and the entity_ids it gives are scored by pairs: a
predicted pair (two names with one entity_id) is right when the gold puts them in one cluster.
Precision comes first: a wrong merge is worse than a missed one. Every wrong merge is printed
with its evidence, every missed pair too.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import pyarrow as pa

from tasks.entities import build_entity_index

GOLD = Path(__file__).resolve().parent / "entities" / "groups.json"
Key = tuple[str, str]


Story = tuple[list[Key], str | None]  # its names, and its text when the gold has one


def load(path: Path = GOLD) -> tuple[dict[str, Story], list[set[Key]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    texts = data.get("texts", {})
    docs = {d: ([tuple(x) for x in names], texts.get(d)) for d, names in data["documents"].items()}
    clusters = [{tuple(x) for x in c} for c in data["clusters"]]
    known = {k for names, _ in docs.values() for k in names}
    for c in clusters:
        if not c <= known:
            raise SystemExit(f"{path}: cluster names in no document: {sorted(c - known)}")
    for d, (names, text) in docs.items():
        if text is not None and (absent := [c for c, _ in names if c not in text]):
            raise SystemExit(f"{path}: names of {d} not in its text: {absent}")
    return docs, clusters


def spans(names: list[Key], text: str | None) -> list[tuple[int, int]]:
    """Each name's first occurrence in the text not inside a longer name's ((0, 0) without a
    text): "Bristol" is not the start of "Bristol Business Council"."""
    if text is None:
        return [(0, 0)] * len(names)
    taken: list[tuple[int, int]] = []
    found: dict[str, tuple[int, int]] = {}
    for canonical in sorted({c for c, _ in names}, key=len, reverse=True):
        start = text.find(canonical)
        while any(a < start + len(canonical) and start < b for a, b in taken):
            start = text.find(canonical, start + 1)
        if start < 0:
            raise SystemExit(f"{canonical!r} is only inside longer names of its text")
        found[canonical] = (start, start + len(canonical))
        taken.append(found[canonical])
    return [found[c] for c, _ in names]


def predict(docs: dict[str, Story]) -> pa.Table:
    """The entity_index a run over these documents would publish."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    ids = sorted(docs)
    documents = pa.table({"doc_id": ids, "run_id": ["r"] * len(ids),
                          "processed_at": pa.array([at] * len(ids), pa.timestamp("us", tz="UTC")),
                          "clean_text": pa.array([docs[d][1] for d in ids], pa.string())})
    rows = [(d, c, lab, *span) for d in ids
            for (c, lab), span in zip(docs[d][0], spans(*docs[d]))]
    entities = pa.table({"doc_id": [r[0] for r in rows], "run_id": ["r"] * len(rows),
                         "canonical": [r[1] for r in rows], "label": [r[2] for r in rows],
                         "start_char": [r[3] for r in rows], "end_char": [r[4] for r in rows]})
    return build_entity_index(entities, documents)


def pairs(groups: list[set[Key]]) -> set[frozenset[Key]]:
    return {frozenset(p) for g in groups for p in combinations(sorted(g), 2)}


def score(path: Path = GOLD) -> dict:
    docs, clusters = load(path)
    index = predict(docs).to_pylist()
    by_id: dict[str, set[Key]] = {}
    evidence = {}
    for r in index:
        by_id.setdefault(r["entity_id"], set()).add((r["canonical"], r["label"]))
        evidence[(r["canonical"], r["label"])] = r["merge_evidence"]
    predicted, gold = pairs(list(by_id.values())), pairs(clusters)
    right = predicted & gold
    return {
        "names": len(index), "gold_pairs": len(gold), "predicted_pairs": len(predicted),
        "precision": len(right) / len(predicted) if predicted else 1.0,
        "recall": len(right) / len(gold) if gold else 1.0,
        "wrong": sorted((sorted(p), [evidence[k] for k in sorted(p)]) for p in predicted - gold),
        "missed": sorted(sorted(p) for p in gold - predicted),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", type=Path, default=GOLD)
    ap.add_argument("--json", action="store_true", help="print the scores as JSON")
    a = ap.parse_args(argv)
    s = score(a.gold)
    if a.json:
        print(json.dumps(s, ensure_ascii=False, indent=1))
        return 0
    print(f"{s['names']} names, {s['gold_pairs']} gold pairs, {s['predicted_pairs']} merged: "
          f"merge precision {s['precision']:.3f}, recall {s['recall']:.3f}")
    for names, why in s["wrong"]:
        print(f"  wrong merge {names}: {why}")
    for names in s["missed"]:
        print(f"  missed {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
