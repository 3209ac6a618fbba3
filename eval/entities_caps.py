"""Entities in ALL-CAPS headlines: ``python -m eval.entities_caps``.

Reads GUM's documents in ``../shared/data/ner_gold/`` where they are (never copied here), writes
each document's title (its first paragraph) in capitals, as wires and feeds print headlines, and
scores exact PER/ORG/LOC spans inside the titles: the model reading the text as it is, against
the model reading it through ``tasks.annotate.casing.readable_case`` (what the pipeline does). The
title's gold names are GUM's; the capitals are the only change. Split as GUM splits it:
``train`` and ``dev+test``.
"""

from __future__ import annotations

import json
import sys

from eval.ner_gold import DATA, MAP, prf
from tasks.annotate import DEFAULT_MODEL, load_pipeline
from tasks.annotate.casing import readable_case


def main() -> int:
    if not DATA.exists():
        print(f"{DATA} not found: this measure reads ../shared/data/ next to the project",
              file=sys.stderr)
        return 2
    nlp = load_pipeline(DEFAULT_MODEL)
    docs = [json.loads(line) for line in DATA.open(encoding="utf-8")]
    for name, splits in (("train", {"train"}), ("dev+test", {"dev", "test"})):
        gold, alone, recased, n = [], [], [], 0
        for d in docs:
            if d["split"] not in splits:
                continue
            text = d["text"]
            end = text.find("\n\n") if "\n\n" in text else len(text)
            caps = text[:end].upper() + text[end:]
            if len(caps) != len(text):
                continue
            n += 1
            gold += [(d["id"], s, e, label) for s, e, label in d["entities"] if e <= end]
            for doc, out in ((nlp(caps), alone), (nlp(readable_case(caps)), recased)):
                out += [(d["id"], x.start_char, x.end_char, MAP[x.label_]) for x in doc.ents
                        if x.label_ in MAP and x.end_char <= end]
        print(f"{name}: {n} documents, {len(gold)} names in their ALL-CAPS titles; exact-span F1: "
              f"model alone {prf(alone, gold)[2]:.3f}, read re-cased {prf(recased, gold)[2]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
