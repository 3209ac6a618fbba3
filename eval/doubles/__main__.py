"""Doubles English makes on purpose, and the repeats MT makes beside them (issue 22):
``python -m eval.doubles [--split dev|test|all] [--show]``.

``eval/doubles/cases.jsonl``: short texts written for this measure (none copied from a public or
shared set), one per case, split dev/test (alternately within each kind) before the cleaner was
run on them. ``legit_*`` cases are correct English that must come out unchanged; ``fix_*`` cases
hold one artifact, ``expected`` is the repaired text (or a list of acceptable ones); ``flag_*``
cases must come out unchanged with a flag over the repeat. Per kind: repaired (exactly right),
flagged (not repaired, but flagged), kept unchanged, words changed where nothing should change.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from eval.repeats.__main__ import _words_changed
from tasks.clean import clean_text

CASES = Path(__file__).resolve().parent / "cases.jsonl"


def score(cases: list[dict]) -> tuple[dict[str, Counter], list[tuple[dict, str]]]:
    by_kind: dict[str, Counter] = defaultdict(Counter)
    failed: list[tuple[dict, str]] = []
    for case in cases:
        r = clean_text(case["text"])
        c = by_kind[case["kind"]]
        c["n"] += 1
        if case["fixable"]:
            want = case["expected"] if isinstance(case["expected"], list) else [case["expected"]]
            ok = r.clean_text in want
            c["repaired"] += ok
            c["flagged"] += (not ok) and bool(r.flags)
        else:
            kept = r.clean_text == case["text"]
            c["kept"] += kept
            c["flagged"] += bool(r.flags)
            c["words"] += _words_changed(case["text"], r.clean_text)
            ok = kept and (bool(r.flags) or not case["kind"].startswith("flag"))
        if not ok:
            failed.append((case, r.clean_text))
    return by_kind, failed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="all", choices=["dev", "test", "all"])
    ap.add_argument("--show", action="store_true", help="print the failed cases")
    a = ap.parse_args(argv)
    cases = [json.loads(line) for line in CASES.read_text("utf-8").splitlines() if line.strip()]
    splits = ("dev", "test") if a.split == "all" else (a.split,)
    for split in splits:
        by_kind, failed = score([c for c in cases if c["split"] == split])
        print(f"\n{split}: {sum(v['n'] for v in by_kind.values())} cases")
        print("| kind | cases | repaired | flagged | kept unchanged | words changed |")
        print("|---|---:|---:|---:|---:|---:|")
        for kind in sorted(by_kind, key=lambda k: (not k.startswith("fix"), k)):
            v = by_kind[kind]
            if kind.startswith("fix"):
                print(f"| {kind} | {v['n']} | {v['repaired']}/{v['n']} | {v['flagged']} | | |")
            else:
                print(f"| {kind} | {v['n']} | | {v['flagged']} | {v['kept']}/{v['n']} | {v['words']} |")
        legit = [v for k, v in by_kind.items() if k.startswith("legit")]
        print(f"legitimate: {sum(v['n'] - v['kept'] for v in legit)} of "
              f"{sum(v['n'] for v in legit)} changed, {sum(v['words'] for v in legit)} words")
        if a.show:
            for case, got in failed:
                print(f"  {case['id']}: {case['text']!r}\n      got {got!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
