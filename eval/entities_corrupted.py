"""Entities on MT-corrupted text: ``python -m eval.entities_corrupted [--splits train|dev,test]``.

Is the pipeline (cleaning + annotation) on corrupted text at least as good as the bare model on the
clean original? Documents: ``../shared/data/ner_gold/docs.jsonl`` (GUM, PER/ORG/LOC), read in place.
Each document is corrupted with the artifact injector of ``eval.evaluate`` (every kind it knows, at
RATES per 1,000 characters, seeded per document) and its gold names are carried through the edits.
Scored the way ``../shared/tools/score_ner_gold.py`` scores: exact raw-text spans, PERSON->PER,
ORG->ORG, GPE/LOC/FAC->LOC, micro F1 and per label, for (a) the bare model on the clean text,
(b) the bare model on the corrupted text, (c) the pipeline on the clean text and (d) the pipeline on
the corrupted text. The pipeline is the real flow (``python -m flows.preprocess``) in a temporary
folder; its entities are read on raw offsets (``raw_start``/``raw_end``).

Carrying gold: an injection outside a name moves it; an injection inside a name (a zero-width
character, a doubled "of", a changed space or quote) widens it to cover the same words; a copy made
by an injection (a doubled word, phrase or sentence) is not gold: the name stays on the first copy,
the one the cleaner keeps, and a name found on the copy is a false positive.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from eval.evaluate import choose
from eval.ner_gold import DATA, LABELS, MAP, prf
from tasks.annotate import DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[1]
SEED = 20240514
# Artifacts per 1,000 characters, 3.0 in all: about 13 in a GUM document of 4,400 characters.
# Applied in this order: a later kind's places are found in the text the earlier ones left (the
# whitespace kind goes last, as its CRLF line ends would hide paragraphs from the others).
RATES = {"boilerplate_line": 0.15, "duplicate_sentence": 0.15, "duplicate_phrase": 0.3,
         "duplicate_word": 0.6, "punctuation_spacing": 0.6, "encoding": 0.5, "hyphenation": 0.2,
         "whitespace": 0.5}

Edit = tuple[int, int, str]  # text[start:end] becomes the string; edits sorted, not overlapping
Span = tuple[int, int]


def apply_edits(text: str, edits: list[Edit]) -> str:
    """The text with every edit applied."""
    out, pos = [], 0
    for start, end, new in edits:
        out += [text[pos:start], new]
        pos = end
    return "".join(out) + text[pos:]


def carry(spans: Iterable[Span], edits: list[Edit]) -> list[tuple[int, int, bool]]:
    """Each span's place after the edits, and whether an edit changed characters inside it.

    Text inserted at a span's edge is outside it; an edit inside or across it widens it to cover
    the edit's new text.
    """
    out = []
    for s, e in spans:
        inside = [(a, b, new) for a, b, new in edits if (a < e and b > s) or s < a == b < e]
        s0 = min([s] + [a for a, _, _ in inside])
        e0 = max([e] + [b for _, b, _ in inside])
        start = s0 + sum(len(new) - (b - a) for a, b, new in edits if b <= s0)
        end = e0 + sum(len(new) - (b - a) for a, b, new in edits if b < e0 or a < b == e0)
        out.append((start, end, bool(inside)))
    return out


@dataclass
class Corrupted:
    text: str
    gold: list[tuple[int, int, str]]  # carried gold: start, end, label
    injections: list[tuple[int, int, str]] = field(default_factory=list)  # start, end, kind
    touched: Counter[str] = field(default_factory=Counter)  # gold names changed inside, by kind
    changed: set[int] = field(default_factory=set)  # the indices of those names in ``gold``
    copied: Counter[str] = field(default_factory=Counter)  # gold names copied (not gold), by kind
    steps: list[list[Edit]] = field(default_factory=list)  # the edits of each kind, in order

    def carry(self, spans: Iterable[Span]) -> list[Span]:
        """Spans of the clean text carried into the corrupted one."""
        spans = list(spans)
        for edits in self.steps:
            spans = [(s, e) for s, e, _ in carry(spans, edits)]
        return spans


def corrupt(text: str, gold: list[tuple[int, int, str]], rng: random.Random,
            rates: dict[str, float] = RATES) -> Corrupted:
    """Inject every kind of ``rates`` into ``text`` and carry the gold names along."""
    doc = Corrupted(text, list(gold))
    for kind, rate in rates.items():
        want = len(doc.text) * rate / 1000
        n = int(want) + (rng.random() < want - int(want))
        chosen = choose(doc.text, kind, rng, n) if n else []
        if not chosen:
            continue
        edits = [(start, end, new) for start, end, new, _, _ in chosen]
        for start, _, _, left, _ in chosen:
            if kind.startswith("duplicate_"):  # a copy of text[start-left:start] inserted
                doc.copied[kind] += sum(start - left <= s and e <= start for s, e, _ in doc.gold)
        moved = carry([(s, e) for s, e, _ in doc.gold], edits)
        doc.touched.update(kind for *_, hit in moved if hit)
        doc.changed.update(k for k, (*_, hit) in enumerate(moved) if hit)
        doc.gold = [(s, e, lab) for (s, e, _), (_, _, lab) in zip(moved, doc.gold)]
        old = carry([(s, e) for s, e, _ in doc.injections], edits)
        shift = [sum(len(new) - (b - a) for a, b, new in edits[:k]) for k in range(len(edits))]
        # the artifact's span as the injector sees it: the new text and ``left``/``right`` around
        new_spans = [(a + d - left, a + d + len(new) + right)
                     for (a, _, new, left, right), d in zip(chosen, shift)]
        doc.injections = sorted([(s, e, k) for (s, e, _), (*_, k) in zip(old, doc.injections)]
                                + [(s, e, kind) for s, e in new_spans])
        doc.text = apply_edits(doc.text, edits)
        doc.steps.append(edits)
    return doc


def bare(texts: list[str], model: str) -> list[tuple[int, int, int, str]]:
    import spacy

    # ner only, as the flow runs it: its own embedding, so the shared tok2vec has no listener
    nlp = spacy.load(model, exclude=["tok2vec", "parser", "tagger", "lemmatizer",
                                     "attribute_ruler", "senter"])
    return [(i, e.start_char, e.end_char, MAP[e.label_])
            for i, doc in enumerate(nlp.pipe(texts)) for e in doc.ents if e.label_ in MAP]


def pipeline(texts: list[str], work: Path, model: str) -> list[tuple[int, int, int, str]]:
    """Entities of the real flow on the texts, on raw offsets: (text index, start, end, label)."""
    (work / "src").mkdir(parents=True)
    with open(work / "src" / "docs.jsonl", "w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
    env = dict(os.environ, PREFECT_HOME=str(work / "prefect"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false")
    p = subprocess.run([sys.executable, "-m", "flows.preprocess", "--source", str(work / "src"),
                        "--output", str(work / "out"), "--model", model],
                       cwd=REPO, env=env, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit((p.stdout + p.stderr)[-2000:])
    import pyarrow.dataset as ds

    def table(name: str, columns: list[str]) -> list[dict]:
        return ds.dataset(work / "out" / name, format="parquet",
                          partitioning="hive").to_table(columns=columns).to_pylist()

    line = {d["doc_id"]: int(str(d["source"]).rsplit("#", 1)[1]) - 1
            for d in table("documents", ["doc_id", "source"])}
    if len(line) != len(texts):
        raise SystemExit(f"the flow published {len(line)} of {len(texts)} documents")
    return [(line[e["doc_id"]], e["raw_start"], e["raw_end"], MAP[e["label"]])
            for e in table("entities", ["doc_id", "raw_start", "raw_end", "label"])
            if e["label"] in MAP and e["doc_id"] in line]


def lost(docs: list[dict], broken: list[Corrupted], a: list, d: list, window: int = 30) -> Counter:
    """Names (a) found and (d) missed, by the kind of the nearest injection within ``window``."""
    found_a = set(a)
    found_d = set(d)
    by_kind: Counter[str] = Counter()
    for i, (doc, cor) in enumerate(zip(docs, broken)):
        for (s, e, lab), (cs, ce, _) in zip(doc["entities"], cor.gold):
            if (i, s, e, lab) in found_a and (i, cs, ce, lab) not in found_d:
                kind = nearest(cor, cs, ce, window)
                by_kind[kind] += 1
                guess = [(ps, pe, pl) for j, ps, pe, pl in d if j == i and ps < ce and cs < pe]
                ctx = cor.text[max(0, cs - 40):ce + 40]
                print(f"  lost {lab} {cor.text[cs:ce]!r} [{kind}] got {guess} "
                      f"in {ctx!r}", file=sys.stderr)
    return by_kind


def nearest(cor: Corrupted, s: int, e: int, window: int = 30) -> str:
    near = [(max(a0 - e, s - a1, 0), k) for a0, a1, k in cor.injections
            if a0 - window <= e and s <= a1 + window]
    return min(near)[1] if near else "none near"


def new_false_positives(broken: list[Corrupted], gold_clean: list, c: list, gold_broken: list,
                        d: list) -> Counter:
    """False positives of (d) that (c) did not make on the same words, by nearest injection."""
    by_kind: Counter[str] = Counter()
    for i, cor in enumerate(broken):
        c_fp = [(s, e, lab) for j, s, e, lab in set(c) - set(gold_clean) if j == i]
        old = {(s, e, lab) for (s, e), (_, _, lab) in zip(cor.carry((s, e) for s, e, _ in c_fp),
                                                         c_fp)}
        for j, s, e, lab in sorted(set(d) - set(gold_broken)):
            if j == i and (s, e, lab) not in old:
                kind = nearest(cor, s, e)
                by_kind[kind] += 1
                print(f"  new false positive {lab} {cor.text[s:e]!r} [{kind}] in "
                      f"{cor.text[max(0, s - 40):e + 40]!r}", file=sys.stderr)
    return by_kind


def score(group: str, docs: list[dict], model: str, show_lost: bool, scale: float = 1.0,
          seed: int = SEED) -> dict:
    rates = {kind: rate * scale for kind, rate in RATES.items()}
    broken = [corrupt(doc["text"], [tuple(x) for x in doc["entities"]],
                      random.Random(f"{seed}:{doc['id']}"), rates) for doc in docs]
    gold_clean = [(i, s, e, lab) for i, doc in enumerate(docs) for s, e, lab in doc["entities"]]
    gold_broken = [(i, s, e, lab) for i, cor in enumerate(broken) for s, e, lab in cor.gold]
    clean_texts = [doc["text"] for doc in docs]
    broken_texts = [cor.text for cor in broken]
    work = Path(tempfile.mkdtemp(prefix="entities-corrupted-"))
    try:
        systems = {
            "a": (bare(clean_texts, model), gold_clean),
            "b": (bare(broken_texts, model), gold_broken),
            "c": (pipeline(clean_texts, work / "clean", model), gold_clean),
            "d": (pipeline(broken_texts, work / "broken", model), gold_broken),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = {}
    for lab in (None, *LABELS):
        keep = (lambda xs: xs) if lab is None else (lambda xs, lab=lab: [x for x in xs if x[3] == lab])
        rows[lab or "micro"] = {k: prf(keep(p), keep(g)) for k, (p, g) in systems.items()}
    injected = Counter(k for cor in broken for *_, k in cor.injections)
    report = {
        "group": group, "documents": len(docs), "gold": len(gold_clean),
        "characters": sum(map(len, clean_texts)), "injected": dict(injected),
        "touched": dict(sum((c.touched for c in broken), Counter())),
        "copied": dict(sum((c.copied for c in broken), Counter())),
        "scores": rows,
        # of the gold names an injection changed inside, how many each system found (exactly)
        "changed_found": {k: sum((i, *cor.gold[n]) in set(p) if k in "bd" else
                                 (i, *docs[i]["entities"][n]) in set(p)
                                 for i, cor in enumerate(broken) for n in cor.changed)
                          for k, (p, _) in systems.items()},
    }
    if show_lost:
        for ref in ("a", "c"):
            print(f"{group}: names ({ref}) found and (d) lost", file=sys.stderr)
            report[f"lost_from_{ref}"] = dict(lost(docs, broken, systems[ref][0],
                                                   systems["d"][0]))
        print(f"{group}: false positives of (d) that (c) did not make", file=sys.stderr)
        report["new_false_positives"] = dict(new_false_positives(
            broken, gold_clean, systems["c"][0], gold_broken, systems["d"][0]))
    return report


def markdown(r: dict) -> str:
    n = sum(r["injected"].values())
    lines = [
        f"### {r['group']}: {r['documents']} documents, {r['gold']} gold names, "
        f"{n} injections ({1000 * n / r['characters']:.2f} per 1,000 characters)",
        "",
        "| F1 (P/R) | (a) bare, clean | (b) bare, corrupted | (c) pipeline, clean "
        "| (d) pipeline, corrupted |",
        "|---|---:|---:|---:|---:|",
    ]
    for lab, row in r["scores"].items():
        cells = " | ".join(f"{f:.3f} ({p:.3f}/{rc:.3f})" for p, rc, f in row.values())
        lines.append(f"| {lab} | {cells} |")
    lines += [
        "",
        "injections by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(r["injected"].items())),
        f"gold names changed inside by an injection: {sum(r['touched'].values())} "
        + str(dict(sorted(r["touched"].items())))
        + "; found by " + ", ".join(f"({k}) {v}" for k, v in r["changed_found"].items()),
        f"gold names copied by a duplicate (the copy is not gold): {sum(r['copied'].values())} "
        + str(dict(sorted(r["copied"].items()))),
    ]
    for ref in ("a", "c"):
        if f"lost_from_{ref}" in r:
            near = sorted(r[f"lost_from_{ref}"].items(), key=lambda kv: -kv[1])
            lines.append(f"names ({ref}) found and (d) lost, by the nearest injection (30 "
                         f"characters): {sum(v for _, v in near)} {dict(near)}")
    if "new_false_positives" in r:
        near = sorted(r["new_false_positives"].items(), key=lambda kv: -kv[1])
        lines.append(f"false positives of (d) that (c) did not make, by the nearest injection: "
                     f"{sum(v for _, v in near)} {dict(near)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", choices=["train", "dev,test"],
                        help="one group only (default: train, then dev,test)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--lost", action="store_true",
                        help="list, on stderr, the names (a) found and (d) missed")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every rate of RATES (a denser or sparser corruption)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    all_docs = [json.loads(line) for line in DATA.open(encoding="utf-8")]
    reports = []
    for group in [args.splits] if args.splits else ["train", "dev,test"]:
        docs = [d for d in all_docs if d["split"] in group.split(",")]
        reports.append(score(group, docs, args.model, args.lost, args.scale, args.seed))
        if not args.json:
            print(markdown(reports[-1]) + "\n", flush=True)
    if args.json:
        json.dump(reports, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
