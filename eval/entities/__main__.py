"""Score entity annotation against hand-labelled names: ``python -m eval.entities [--json]``.

Gold (``eval/entities/gold.jsonl``): one line per article of ``data/raw/articles``, the names in its
RAW text as {"text", "label", "start", "end"}, offsets into the raw text, ``text`` the name as it
should read after cleaning (the raw span may hold mojibake: "AndalucÃ­a" -> "Andalucía").
Conventions: OntoNotes name labels only (PERSON, NORP, FAC, ORG, GPE, LOC, PRODUCT, EVENT,
WORK_OF_ART, LAW, LANGUAGE); no dates or numbers; no leading "the" and no possessive "'s";
datelines ("KYIV") and the wire's name ("Newswire") are labelled; lower-case descriptions
("the commerce ministry") are not.

Matching rule: per document, a prediction with a name label is a true positive when an unmatched
gold mention has the same label, the same text after normalisation (leading "the", a possessive
and repeated spaces removed) and a raw span overlapping the prediction's raw span (clean-text
predictions are mapped to raw offsets through the cleaner's edits). Each gold mention matches at
most one prediction; predictions with other labels (DATE, CARDINAL...) are ignored.

Systems: the model alone on the raw text; the model on the cleaned text; the pipeline (cleaning
+ per-document consistency) without and with the example patterns file. The example patterns
were written while looking at these articles, so the last row is optimistic.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from tasks.annotate import DEFAULT_MODEL, annotate_documents, load_pipeline, model_version
from tasks.batch import Batch, incoming_table
from tasks.clean import CleanConfig, OffsetMap, cleaner_version
from tasks.clean.batch import clean_documents
from tasks.entities import NAME_LABELS, surface
from tasks.ingest import Document, read_sources

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
GOLD = HERE / "gold.jsonl"
PATTERNS = REPO / "config" / "entity_patterns.example.jsonl"

Span = tuple[str, str, int, int]  # text, label, raw_start, raw_end


def load_gold(path: Path = GOLD) -> dict[str, list[Span]]:
    gold = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            gold[rec["source"]] = [(e["text"], e["label"], e["start"], e["end"])
                                   for e in rec["entities"]]
    return gold


def read_documents(sources: list[str]) -> list[Document]:
    docs = [d for d in read_sources([str(REPO / s) for s in sources]) if isinstance(d, Document)]
    if len(docs) != len(sources):
        raise SystemExit(f"could not read every gold source: {sources}")
    return docs


def model_on_raw(docs: list[Document], model: str) -> list[list[Span]]:
    nlp = load_pipeline(model)
    return [[(e.text, e.label_, e.start_char, e.end_char) for e in nlp(d.raw_text).ents]
            for d in docs]


def model_on_clean(docs: list[Document], model: str) -> list[list[Span]]:
    nlp = load_pipeline(model)
    batch = clean_documents(Batch("eval", 0, incoming_table(docs)), CleanConfig())
    out = []
    edits = batch.tables["edits"].to_pylist()
    for doc_id, clean in zip(batch.incoming.column("doc_id").to_pylist(),
                             batch.incoming.column("clean_text").to_pylist()):
        from tasks.clean import AppliedEdit

        offsets = OffsetMap([AppliedEdit(e["rule"], e["raw_start"], e["raw_end"], e["clean_start"],
                                         e["clean_end"], e["before"], e["after"])
                             for e in edits if e["doc_id"] == doc_id])
        out.append([(e.text, e.label_, *offsets.to_raw(e.start_char, e.end_char))
                    for e in nlp(clean).ents])
    return out


def pipeline(docs: list[Document], model: str, patterns: str | None) -> list[list[Span]]:
    config = CleanConfig()
    cleaner, model_str = cleaner_version(config), model_version(model, patterns)
    batch = Batch("eval", 0, incoming_table(docs), cleaner_version=cleaner, model=model_str)
    batch = annotate_documents(clean_documents(batch, config), model, patterns)
    rows = batch.tables["entities"].to_pylist()
    return [[(r["text"], r["label"], r["raw_start"], r["raw_end"]) for r in rows
             if r["doc_id"] == d.doc_id] for d in docs]


def _norm(text: str) -> str:
    return surface(text).casefold()


def score(gold: list[list[Span]], predicted: list[list[Span]]) -> dict[str, Counter]:
    """tp / pred / gold counts per label (and "overall")."""
    counts: dict[str, Counter] = {}

    def add(label: str, key: str) -> None:
        for name in (label, "overall"):
            counts.setdefault(name, Counter())[key] += 1

    for g_doc, p_doc in zip(gold, predicted):
        unmatched = list(g_doc)
        for g in g_doc:
            add(g[1], "gold")
        for text, label, s, e in p_doc:
            if label not in NAME_LABELS:
                continue
            add(label, "pred")
            for g in unmatched:
                if g[1] == label and _norm(g[0]) == _norm(text) and g[2] < e and s < g[3]:
                    unmatched.remove(g)
                    add(label, "tp")
                    break
    return counts


def prf(c: Counter) -> tuple[float, float, float]:
    p = c["tp"] / c["pred"] if c["pred"] else 0.0
    r = c["tp"] / c["gold"] if c["gold"] else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.entities", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--patterns", default=str(PATTERNS), help="EntityRuler JSONL")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    gold_by_source = load_gold()
    sources = sorted(gold_by_source)
    docs = read_documents(sources)
    gold = [gold_by_source[s] for s in sources]
    for d, g in zip(docs, gold):
        bad = [x for x in g if not 0 <= x[2] < x[3] <= len(d.raw_text)]
        if bad:
            raise SystemExit(f"gold spans outside the text of {d.source}: {bad}")
    systems = {
        "model on raw text": model_on_raw(docs, args.model),
        "model on cleaned text": model_on_clean(docs, args.model),
        "cleaning + consistency": pipeline(docs, args.model, None),
        "cleaning + ruler + consistency": pipeline(docs, args.model, args.patterns),
    }
    results = {name: score(gold, pred) for name, pred in systems.items()}
    labels = sorted({lab for r in results.values() for lab in r if lab != "overall"}) + ["overall"]
    if args.json:
        print(json.dumps({name: {lab: dict(zip(("precision", "recall", "f1"), prf(r[lab])))
                                 | dict(r[lab]) for lab in labels if lab in r}
                          for name, r in results.items()}, indent=2))
        return 0
    print(f"Entities: {len(docs)} hand-labelled articles, {sum(map(len, gold))} gold names "
          f"(eval/entities/gold.jsonl); model {model_version(args.model)}\n")
    print("| label | system | precision | recall | F1 | tp | predicted | gold |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for lab in labels:
        for name, r in results.items():
            c = r.get(lab, Counter())
            p, rec, f = prf(c)
            label = f"**{lab}**" if lab == "overall" else lab
            print(f"| {label} | {name} | {p:.3f} | {rec:.3f} | {f:.3f} | {c['tp']} | "
                  f"{c['pred']} | {c['gold']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
