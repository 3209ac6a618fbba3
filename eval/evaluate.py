"""Evaluate the cleaner on artifacts injected at known places into clean articles.

Run ``python -m eval.evaluate`` (add ``--json`` for machine-readable output). Every artifact kind is
injected into copies of ``eval/clean/*.txt`` with a fixed seed; a kind is recalled when an edit or
flag of the rule of the same name touches the injected span. The same documents are given to two
baselines (ftfy alone, a doubled-word regex); their edits are the character diff of their output.
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ftfy
import ftfy.bad_codecs  # noqa: F401  (registers the sloppy-windows-1252 codec)

from tasks.clean import CleanConfig, clean_text
from tasks.clean.grammar import tag

EVAL_DIR = Path(__file__).resolve().parent
SEED = 20240514
ROUNDS = 2  # documents per article and kind
PER_DOC = 4  # injections per document
FIXABLE = ("duplicate_word", "duplicate_phrase", "duplicate_sentence", "punctuation_spacing",
           "encoding", "whitespace", "hyphenation", "boilerplate_line")

# Headlines of other (invented) stories, in sentence case, as news sites inject them.
OTHER_HEADLINES = (
    "Bananas flood supermarket shelves after dock strike ends",
    "Teenage chess prodigy stuns grandmaster in Oslo",
    "Volcano ash grounds flights across northern Japan",
    "Bakery chain recalls croissants over allergy fears",
    "Astronauts return safely after six months aboard station",
    "Zoo welcomes rare twin pandas born overnight",
    "Marathon runner disqualified for taking shortcut",
    "Wildfire smoke blankets mountain villages for third week",
    "Famous violin sold for record sum at auction",
    "Submarine cable cut leaves islanders without internet",
    "Hackers steal customer passwords from ticketing site",
    "Lottery jackpot unclaimed as deadline nears",
    "Opera house reopens after decade of restoration work",
    "Scientists discover new frog species in cloud forest",
)
MARKER_LINES = ("Share this article", "ADVERTISEMENT", "Related stories", "Advertisement")
# Words the injector never doubles: their doubling can be English ("had had"), so an injected one
# could be right. The eval's own list, not the cleaner's: the rules must not shape the test.
GRAMMATICAL_DOUBLES = frozenset({"had", "that", "is", "was", "do", "does", "did", "in", "will", "can"})
ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "no", "vs", "etc", "approx", "u.s", "u.n"}


@dataclass(frozen=True)
class Injection:
    """An artifact of ``kind`` occupying ``text[start:end]`` of the broken document."""

    kind: str
    start: int
    end: int


@dataclass
class Document:
    name: str
    kind: str  # the kind injected, or "clean"
    text: str
    injections: list[Injection] = field(default_factory=list)
    original: str = ""  # the clean article it was made from


# A candidate: replace original[start:end] by replacement; the artifact spans ``left`` characters
# before and ``right`` characters after the replacement in the broken text.
Candidate = tuple[int, int, str, int, int]


def _prose(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) of each paragraph of running text (not titles, lists or headings)."""
    pos = 0
    for line in text.split("\n"):
        if len(line) > 80 and line.rstrip().endswith((".", "”", '"')) and not line.startswith("-"):
            yield pos, line
        pos += len(line) + 1


def _sentences(line: str) -> Iterator[tuple[int, str]]:
    for m in re.finditer(r"(?:^|(?<=[a-z]\. ))[A-Z][^.!?“”\"]*?[a-z]{2}\.(?=\s|$)", line):
        yield m.start(), m.group()


def _candidates(kind: str, text: str, rng: random.Random) -> list[Candidate]:
    out: list[Candidate] = []
    prose = list(_prose(text))
    if kind == "duplicate_word":
        for off, line in prose:
            for m in re.finditer(r"(?<![\w'’-])([A-Za-z]{2,})(?= [a-z])", line):
                word = m.group(1)
                if word.lower() in GRAMMATICAL_DOUBLES:
                    continue  # "had had" is English: an injected one cannot be told apart
                if word[0].isupper() and m.start() and line[m.start() - 2] not in ".!?":
                    continue  # a capitalised name in mid-sentence: the cleaner flags, not edits
                copy = word.lower() if word[0].isupper() else word
                e = off + m.end()
                out.append((e, e, " " + copy, len(word), 0))
    elif kind == "duplicate_phrase":
        for off, line in prose:
            for m in re.finditer(r"(?<![\w'’.@/-])[a-z]+(?: [a-z]+){1,4}(?= )", line):
                words = m.group().split()
                k = rng.randint(2, len(words))
                phrase = " ".join(words[:k])
                e = off + m.start() + len(phrase)
                out.append((e, e, " " + phrase, len(phrase), 0))
    elif kind == "duplicate_sentence":
        for off, line in prose:
            for s, sent in _sentences(line):
                if len(sent.split()) >= 5:
                    e = off + s + len(sent)
                    out.append((e, e, " " + sent, len(sent), 0))
    elif kind == "punctuation_spacing":
        for off, line in prose:
            for m in re.finditer(r"[a-z]{2}([,.;:?!])(?= )", line):
                p = off + m.start(1)
                out.append((p, p, " ", 2, 1))  # "word ," / "word ."
            for m in re.finditer(r"(?<= )([a-z]{3,})([.,]) ([A-Z][a-z]+|[a-z]{3,})", line):
                if m.group(1) in ABBREVIATIONS or (m.group(2) == "." and m.group(3).islower()):
                    continue
                p = off + m.end(2)
                out.append((p, p + 1, "", 2, 2))  # "said.The" / "talks,the"
    elif kind == "encoding":
        for m in re.finditer(r"[’“”‘—éèôñ]", text):
            ch = m.group()
            style = rng.random()
            if style < 0.6:
                bad = ch.encode("utf-8").decode("sloppy-windows-1252")
            elif style < 0.8 and ch in "’“”‘—":
                bad = {"’": "&rsquo;", "“": "&ldquo;", "”": "&#8221;", "‘": "&#x2018;",
                       "—": "&mdash;"}[ch]
            else:
                bad = ch + "\u200b"
            out.append((m.start(), m.end(), bad, 0, 0))
        for off, line in prose:
            for m in re.finditer(r"[a-z]{6,}", line):
                mid = off + m.start() + 3
                out.append((mid, mid, rng.choice(["\u200b", "\ufeff", "\u00ad"]), 1, 1))
    elif kind == "whitespace":
        for off, line in prose:
            for m in re.finditer(r"(?<=[a-z]) (?=[a-z])", line):
                p = off + m.start()
                out.append((p, p + 1, rng.choice(["\u00a0", "  ", "\t", "   "]), 0, 0))
            e = off + len(line)
            out.append((e, e, rng.choice(["  ", " ", "\t"]), 0, 0))
        for m in re.finditer(r"\n", text):
            if text[m.start() - 1:m.start()] == "\n":
                bad = "\n\n"  # a paragraph break with extra blank lines
            elif text[m.end():m.end() + 1] == "\n":
                bad = "\r\n"  # a lone CR here would read as CRLF: one line break, not two
            else:
                bad = rng.choice(["\r\n", "\r"])
            out.append((m.start(), m.end(), bad, 0, 0))
    elif kind == "hyphenation":
        for off, line in prose:
            for m in re.finditer(r"(?<![\w'’-])[a-z]{8,}(?![\w'’-])", line):
                word = m.group()
                cut = rng.randint(3, len(word) - 3)
                out.append((off + m.start(), off + m.end(), f"{word[:cut]}-\n{word[cut:]}", 0, 0))
    elif kind == "boilerplate_line":
        starts = [off for off, _ in prose]
        headlines = rng.sample(OTHER_HEADLINES, len(OTHER_HEADLINES))
        for off in starts[1:]:
            if text[off - 2:off] != "\n\n":
                continue
            style = rng.random()
            headline = headlines.pop() if headlines else rng.choice(OTHER_HEADLINES)
            if style < 0.4:
                line = headline
            elif style < 0.8:
                line = f"{rng.choice(['Read more', 'READ MORE', 'Also read'])}: {headline}"
            else:
                line = rng.choice(MARKER_LINES)
            out.append((off, off, line + "\n\n", 0, 0))
    return out


def choose(text: str, kind: str, rng: random.Random, n: int) -> list[Candidate]:
    """Up to ``n`` well-separated candidates of ``kind`` in ``text``, in text order."""
    candidates = _candidates(kind, text, rng)
    rng.shuffle(candidates)
    chosen: list[Candidate] = []
    for c in candidates:
        lo, hi = c[0] - c[3] - 12, c[1] + c[4] + 12
        if all(hi < d[0] - d[3] or lo > d[1] + d[4] for d in chosen):
            chosen.append(c)
        if len(chosen) == n:
            break
    return sorted(chosen)


def _inject(text: str, kind: str, rng: random.Random, n: int) -> tuple[str, list[Injection]]:
    """Apply up to ``n`` well-separated candidates of ``kind``; return the text and their spans."""
    out, spans, pos, shift = [], [], 0, 0
    for start, end, rep, left, right in choose(text, kind, rng, n):
        out.append(text[pos:start])
        new_start = start + shift
        spans.append(Injection(kind, new_start - left, new_start + len(rep) + right))
        out.append(rep)
        shift += len(rep) - (end - start)
        pos = end
    out.append(text[pos:])
    return "".join(out), spans


def build_documents(seed: int = SEED) -> list[Document]:
    rng = random.Random(seed)
    docs: list[Document] = []
    for path in sorted((EVAL_DIR / "clean").glob("*.txt")):
        text = path.read_text("utf-8")
        docs.append(Document(path.stem, "clean", text))
        for kind in FIXABLE:
            for r in range(ROUNDS):
                broken, spans = _inject(text, kind, rng, PER_DOC)
                docs.append(Document(f"{path.stem}/{kind}/{r}", kind, broken, spans, text))
    return docs


def load_broken_sentences() -> list[dict]:
    lines = (EVAL_DIR / "broken_sentences.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _touches(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 <= b1 and b0 <= a1


def _words_changed(before: str, after: str) -> int:
    a, b = before.split(), after.split()
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in ops if op != "equal")


_PIECE = re.compile(r"\w+|\s|[^\w\s]")


def _diff_spans(before: str, after: str) -> list[tuple[int, int]]:
    """Character spans of ``before`` a baseline changed (diffed piece by piece, for speed)."""
    if before == after:
        return []
    a = [m.span() for m in _PIECE.finditer(before)]
    ops = difflib.SequenceMatcher(None, [before[s:e] for s, e in a], _PIECE.findall(after),
                                  autojunk=False).get_opcodes()
    bounds = [s for s, _ in a] + [len(before)]
    return [(bounds[i1], bounds[i2]) for op, i1, i2, _, _ in ops if op != "equal"]


def _is_lowercase_break(item: dict) -> bool:
    after = item["break"].split(". ", 1)[1]
    return after[:1].islower()


def evaluate_cleaner(docs: list[Document], sentences: list[dict]) -> dict:
    config = CleanConfig()
    hits: Counter[str] = Counter()
    injected: Counter[str] = Counter()
    edits_total: Counter[str] = Counter()
    edits_good: Counter[str] = Counter()
    flags_total: Counter[str] = Counter()
    flags_good: Counter[str] = Counter()
    clean_words = 0
    clean_flags = 0
    restored: Counter[str] = Counter()
    n_docs: Counter[str] = Counter()
    misses: list[str] = []
    false_edits: list[str] = []
    for doc in docs:
        result = clean_text(doc.text, config)
        if doc.kind == "clean":
            clean_words += _words_changed(doc.text, result.clean_text)
            clean_flags += len(result.flags)
        else:
            n_docs[doc.kind] += 1
            restored[doc.kind] += result.clean_text == doc.original
        actions = [(e.rule, e.raw_start, e.raw_end, True) for e in result.edits]
        actions += [(f.rule, f.raw_start, f.raw_end, False) for f in result.flags]
        for inj in doc.injections:
            injected[inj.kind] += 1
            if any(r == inj.kind and _touches(s, e, inj.start, inj.end) for r, s, e, _ in actions):
                hits[inj.kind] += 1
            else:
                misses.append(f"{doc.name}: {doc.text[max(0, inj.start - 25):inj.end + 25]!r}")
        for rule, s, e, is_edit in actions:
            good = any(i.kind == rule and _touches(s, e, i.start, i.end) for i in doc.injections)
            (edits_total if is_edit else flags_total)[rule] += 1
            if good:
                (edits_good if is_edit else flags_good)[rule] += 1
            elif is_edit:
                false_edits.append(f"{doc.name} [{rule}]: {doc.text[max(0, s - 25):e + 25]!r}")
    rules = {}
    for kind in FIXABLE:
        rules[kind] = {
            "injected": injected[kind],
            "recall": hits[kind] / injected[kind] if injected[kind] else None,
            "edit_precision": edits_good[kind] / edits_total[kind] if edits_total[kind] else None,
            "edits": edits_total[kind],
            "flags": flags_total[kind],
            "restored": restored[kind] / n_docs[kind] if n_docs[kind] else None,
        }
    detected = {"lowercase": [0, 0], "capitalised": [0, 0]}
    false_flags = 0
    for item in sentences:
        flags = [f for f in clean_text(item["text"], config).flags if f.rule == "broken_sentence"]
        if item["break"] is None:
            false_flags += bool(flags)
            continue
        b0 = item["text"].index(item["break"])
        b1 = b0 + len(item["break"])
        group = detected["lowercase" if _is_lowercase_break(item) else "capitalised"]
        group[1] += 1
        group[0] += any(_touches(f.raw_start, f.raw_end - 1, b0, b1 - 1) for f in flags)
    n_null = sum(item["break"] is None for item in sentences)
    return {
        "rules": rules,
        "clean_words_changed": clean_words,
        "clean_flags": clean_flags,
        "broken_sentence": {
            "lowercase_detected": detected["lowercase"][0] / detected["lowercase"][1],
            "capitalised_detected": detected["capitalised"][0] / detected["capitalised"][1],
            "detected": (detected["lowercase"][0] + detected["capitalised"][0])
            / (detected["lowercase"][1] + detected["capitalised"][1]),
            "false_flags_on_legit": f"{false_flags}/{n_null}",
        },
        "misses": misses,
        "false_edits": false_edits,
    }


def evaluate_baseline(fix: Callable[[str], str], docs: list[Document]) -> dict:
    rules = {}
    clean_words = 0
    for doc in docs:
        if doc.kind == "clean":
            clean_words += _words_changed(doc.text, fix(doc.text))
    for kind in FIXABLE:
        kind_docs = [d for d in docs if d.kind == kind]
        hits = injected = good = total = restored = 0
        for doc in kind_docs:
            fixed = fix(doc.text)
            restored += fixed == doc.original
            spans = _diff_spans(doc.text, fixed)
            for inj in doc.injections:
                injected += 1
                hits += any(_touches(s, e, inj.start, inj.end) for s, e in spans)
            for s, e in spans:
                total += 1
                good += any(_touches(s, e, i.start, i.end) for i in doc.injections)
        rules[kind] = {"injected": injected, "recall": hits / injected if injected else None,
                       "edit_precision": good / total if total else None, "edits": total,
                       "flags": 0, "restored": restored / len(kind_docs)}
    return {"rules": rules, "clean_words_changed": clean_words,
            "broken_sentence": {"detected": 0.0}}


def regex_dedupe(text: str) -> str:
    return re.sub(r"\b(\w+)\s+\1\b", r"\1", text, flags=re.I)


def throughput(texts: list[str], target_bytes: int = 5_000_000) -> float:
    """MB/s of ``clean_text`` over the texts repeated to about ``target_bytes``."""
    size = sum(len(t.encode("utf-8")) for t in texts)
    repeats = max(1, round(target_bytes / size))
    config = CleanConfig()
    clean_text(texts[0], config)  # rules built, word lists and tagger loaded: a worker's state
    tag("A warm-up sentence.")
    started = time.perf_counter()
    for _ in range(repeats):
        tag.cache_clear()  # each round as new text: sentences are tagged again, as in a real run
        for text in texts:
            clean_text(text, config)
    elapsed = time.perf_counter() - started
    return size * repeats / elapsed / 1e6


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def markdown(report: dict) -> str:
    c, f, r = report["cleaner"], report["ftfy"], report["regex"]
    lines = [
        f"Injected artifacts: {ROUNDS * PER_DOC} per article and kind (fewer where an article has "
        f"too few places), {report['articles']} clean articles, seed {SEED}. Recall: an edit or "
        "flag of the rule touches the injected span; docs restored: the cleaned document equals "
        "the clean article exactly.",
        "",
        "| rule | injected | recall | edit precision | edits | flags | docs restored "
        "| ftfy recall | ftfy precision | regex recall | regex precision |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in FIXABLE:
        a, b, d = c["rules"][kind], f["rules"][kind], r["rules"][kind]
        lines.append(
            f"| {kind} | {a['injected']} | {_fmt(a['recall'])} | {_fmt(a['edit_precision'])} "
            f"| {a['edits']} | {a['flags']} | {_fmt(a['restored'])} "
            f"| {_fmt(b['recall'])} | {_fmt(b['edit_precision'])} "
            f"| {_fmt(d['recall'])} | {_fmt(d['edit_precision'])} |")
    bs = c["broken_sentence"]
    lines += [
        "",
        "| measure | cleaner | ftfy.fix_text | regex dedupe |",
        "|---|---:|---:|---:|",
        f"| words changed in the clean articles | {c['clean_words_changed']} "
        f"| {f['clean_words_changed']} | {r['clean_words_changed']} |",
        f"| flags raised on the clean articles | {c['clean_flags']} | – | – |",
        f"| broken sentences detected (all) | {bs['detected']:.3f} | 0.000 | 0.000 |",
        f"| – lower-case continuation | {bs['lowercase_detected']:.3f} | 0.000 | 0.000 |",
        f"| – capitalised fragment | {bs['capitalised_detected']:.3f} | 0.000 | 0.000 |",
        f"| legit look-alike lines flagged | {bs['false_flags_on_legit']} | – | – |",
        f"| throughput, clean text (MB/s, 1 core) | {report['mbps_clean']:.2f} | – | – |",
        f"| throughput, artifact text (MB/s, 1 core) | {report['mbps_artifacts']:.2f} | – | – |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument("--misses", action="store_true", help="also list misses and false edits")
    parser.add_argument("--no-speed", action="store_true", help="skip the throughput runs")
    args = parser.parse_args(argv)
    docs = build_documents()
    sentences = load_broken_sentences()
    clean_docs = [d.text for d in docs if d.kind == "clean"]
    broken_docs = [d.text for d in docs if d.kind != "clean"]
    report = {
        "articles": len(clean_docs),
        "cleaner": evaluate_cleaner(docs, sentences),
        "ftfy": evaluate_baseline(ftfy.fix_text, docs),
        "regex": evaluate_baseline(regex_dedupe, docs),
        "mbps_clean": 0.0 if args.no_speed else throughput(clean_docs),
        "mbps_artifacts": 0.0 if args.no_speed else throughput(broken_docs),
    }
    if args.json:
        out = dict(report)
        if not args.misses:
            out["cleaner"] = {k: v for k, v in report["cleaner"].items()
                              if k not in ("misses", "false_edits")}
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    print(markdown(report))
    if args.misses:
        print("\nMisses:", *report["cleaner"]["misses"], sep="\n  ")
        print("\nFalse edits:", *report["cleaner"]["false_edits"], sep="\n  ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
