"""Corpus-wide entity grouping against hand-labelled clusters: ``python -m eval.entity_groups``.

Gold (``eval/entities/groups.json``): invented stories, each the (canonical, label) names the
per-document pipeline publishes for it, and the clusters of names that are one thing (a name in
no cluster is alone). The stories become ``entities`` and ``documents`` tables, go through
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


def load(path: Path = GOLD) -> tuple[dict[str, list[Key]], list[set[Key]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    docs = {d: [tuple(x) for x in names] for d, names in data["documents"].items()}
    clusters = [{tuple(x) for x in c} for c in data["clusters"]]
    known = {k for names in docs.values() for k in names}
    for c in clusters:
        if not c <= known:
            raise SystemExit(f"{path}: cluster names in no document: {sorted(c - known)}")
    return docs, clusters


def predict(docs: dict[str, list[Key]]) -> pa.Table:
    """The entity_index a run over these documents would publish."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    ids = sorted(docs)
    documents = pa.table({"doc_id": ids, "run_id": ["r"] * len(ids),
                          "processed_at": pa.array([at] * len(ids), pa.timestamp("us", tz="UTC"))})
    rows = [(d, c, lab) for d in ids for c, lab in docs[d]]
    entities = pa.table({"doc_id": [r[0] for r in rows], "run_id": ["r"] * len(rows),
                         "canonical": [r[1] for r in rows], "label": [r[2] for r in rows]})
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
