"""Score the repetition rules on written cases: ``python -m eval.repeats [--split dev|test|all]``.

``eval/repeats/cases.jsonl`` holds short texts, each with one artifact (``expected`` is the text
repaired) or one legitimate repeat (``expected`` == text). The cases were written by a helper
who did not read the rules, split half ``dev`` (the rules are tuned on it) and half ``test``
(not looked at while tuning). Per kind:

  repaired   clean_text == expected (fixable kinds)
  flagged    not repaired, but a flag of the cleaner covers the repeat (a flag is not a repair)
  kept       clean_text == text (legitimate repeats and loops deletion cannot repair)
  words      words changed where nothing should change (legitimate kinds)

``--show`` prints the cases that failed (use it on dev only).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from tasks.clean import clean_text

CASES = Path(__file__).resolve().parent / "cases.jsonl"


def _words_changed(a: str, b: str) -> int:
    import difflib

    sm = difflib.SequenceMatcher(a=a.split(), b=b.split(), autojunk=False)
    return sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in sm.get_opcodes() if op != "equal")


def score(cases: list[dict]) -> tuple[dict[str, Counter], list[tuple[dict, str]]]:
    by_kind: dict[str, Counter] = defaultdict(Counter)
    failed: list[tuple[dict, str]] = []
    for case in cases:
        r = clean_text(case["text"])
        c = by_kind[case["kind"]]
        c["n"] += 1
        if case["fixable"]:
            ok = r.clean_text == case["expected"]
            c["repaired"] += ok
            c["flagged"] += (not ok) and bool(r.flags)
        else:
            ok = r.clean_text == case["text"]
            c["kept"] += ok
            c["flagged"] += bool(r.flags)
            c["words"] += _words_changed(case["text"], r.clean_text)
        if not ok:
            failed.append((case, r.clean_text))
    return by_kind, failed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="all", choices=["dev", "test", "all"])
    ap.add_argument("--show", action="store_true", help="print the failed cases")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    cases = [json.loads(line) for line in CASES.read_text("utf-8").splitlines() if line.strip()]
    splits = ("dev", "test") if a.split == "all" else (a.split,)
    results = {s: score([c for c in cases if c["split"] == s]) for s in splits}
    if a.json:
        print(json.dumps({s: {k: dict(v) for k, v in r[0].items()} for s, r in results.items()}))
        return 0
    for split, (by_kind, failed) in results.items():
        print(f"\n{split}: {sum(v['n'] for v in by_kind.values())} cases")
        print("| kind | cases | repaired | flagged (not repaired) | kept unchanged | words changed |")
        print("|---|---:|---:|---:|---:|---:|")
        for kind in sorted(by_kind, key=lambda k: (k.startswith(("legit", "unfix")), k)):
            v = by_kind[kind]
            n = v["n"]
            if kind.startswith(("legit", "unfix")):
                print(f"| {kind} | {n} | | {v['flagged']} | {v['kept']}/{n} = {v['kept'] / n:.3f} "
                      f"| {v['words']} |")
            else:
                print(f"| {kind} | {n} | {v['repaired']}/{n} = {v['repaired'] / n:.3f} "
                      f"| {v['flagged']} | | |")
        if a.show:
            for case, got in failed:
                print(f"  {case['id']}: {case['text']!r}\n      got {got!r}\n     want {case['expected']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
