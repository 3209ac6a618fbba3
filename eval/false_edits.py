"""Words the cleaner changes in human-written text: ``python -m eval.false_edits``.

Reads GUM's Wikinews and Wikipedia documents in ``../shared/data/ner_gold/`` where they are
(never copied here). Nothing in them is a machine-translation artifact, so every word changed is
a false edit (reported also per 10,000 words). Cleaned as one batch, as the flow does; counted by GUM's split (train was looked at
while tuning; dev and test were not).
"""

from __future__ import annotations

import difflib
import json
import sys
from collections import Counter

from eval.ner_gold import DATA
from tasks.clean import clean_text, gather


def words_changed(a: str, b: str) -> int:
    sm = difflib.SequenceMatcher(a=a.split(), b=b.split(), autojunk=False)
    return sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in sm.get_opcodes() if op != "equal")


def main() -> int:
    if not DATA.exists():
        print(f"{DATA} not found: this measure reads ../shared/data/ next to the project",
              file=sys.stderr)
        return 2
    docs = [json.loads(line) for line in DATA.open(encoding="utf-8")]
    evidence = gather([d["text"] for d in docs])
    for split in ("train", "dev", "test"):
        part = [d for d in docs if d["split"] == split]
        edits: Counter[str] = Counter()
        flags: Counter[str] = Counter()
        changed = 0
        for d in part:
            result = clean_text(d["text"], evidence=evidence)
            changed += words_changed(d["text"], result.clean_text)
            edits.update(e.rule for e in result.edits)
            flags.update(f.rule for f in result.flags)
        words = sum(len(d["text"].split()) for d in part)
        print(f"{split}: {len(part)} documents, {sum(len(d['text']) for d in part):,} characters, "
              f"{words:,} words; words changed {changed} = {10_000 * changed / words:.2f} per "
              f"10,000 words; edits {dict(edits)}; flags {dict(flags)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
