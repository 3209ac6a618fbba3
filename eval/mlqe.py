"""The cleaner on real MT output with human post-edits: ``python -m eval.mlqe [--splits dev,test]``.

Reads ``../shared/data/mlqe_pe_repeats.jsonl`` where it is (third-party data, never copied into
the repository): 315 segments of neural MT into English whose output holds an adjacent repeat,
each with a professional post-edit. A repeat the post-editor removed should be gone from
``clean_text``; one they kept should stay. Decide rules on ``train``; report ``dev,test``.

Beside ``../shared/tools/score_mlqe.py`` (which runs the flow and tests ``repeat in clean_text``
as a substring, so "Mare are are" still "holds" "are are" after the repair to "Mare are"), this
counts a repeat as present only at word boundaries, and counts flags apart from repairs: a flag
is not a repair. The segments are cleaned as one batch, as the flow does.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from tasks.clean import clean_text, gather

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mlqe_pe_repeats.jsonl"


def _present(repeat: str, text: str) -> bool:
    return re.search(rf"(?<![\w'-]){re.escape(repeat)}(?![\w-])", text, re.I) is not None


def score(rows: list[dict]) -> dict:
    evidence = gather([r["mt"] for r in rows])
    n_rm = removed = flagged = n_keep = kept = 0
    missed: list[str] = []
    for r in rows:
        result = clean_text(r["mt"], evidence=evidence)
        for rep in r["mt_repeats"]:
            if rep in r["pe_repeats"]:
                n_keep += 1
                kept += _present(rep, result.clean_text)
                continue
            n_rm += 1
            if not _present(rep, result.clean_text):
                removed += 1
            elif any(f.text.lower().find(rep.split()[0].lower()) >= 0 for f in result.flags):
                flagged += 1
                missed.append(f"{rep} (flagged)")
            else:
                missed.append(rep)
    return {"segments": len(rows), "to_remove": n_rm, "removed": removed,
            "flagged_not_removed": flagged, "to_keep": n_keep, "kept": kept, "missed": missed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--splits", default="dev,test")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--show", action="store_true", help="list the repeats not removed")
    a = ap.parse_args(argv)
    if not a.data.exists():
        print(f"{a.data} not found: this measure reads ../shared/data/ next to the project",
              file=sys.stderr)
        return 2
    splits = set(a.splits.split(","))
    rows = [r for r in map(json.loads, a.data.open(encoding="utf-8")) if r["split"] in splits]
    s = score(rows)
    print(f"splits {','.join(sorted(splits))}: {s['segments']} segments")
    print(f"removed {s['removed']}/{s['to_remove']} = {s['removed'] / max(s['to_remove'], 1):.3f}"
          f"  flagged, not removed {s['flagged_not_removed']}"
          f"  kept {s['kept']}/{s['to_keep']}")
    if a.show:
        print("not removed:", "; ".join(s["missed"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
