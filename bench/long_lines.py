"""Benchmark: CPU time of the cleaner on one-line documents as the line grows.

    .venv/bin/python -m bench.long_lines                       # 10 KB .. 1 MB, every kind
    .venv/bin/python -m bench.long_lines --kinds repeated --sizes 10 20 40 --timeout 120

A document that is one long line (paragraphs joined by spaces, a JSONL field without newlines,
a decoding loop) is where a rule that is quadratic in a line shows. Each kind and size is
cleaned by ``tasks.clean.clean_text`` alone (no batch evidence, no time budget) in a child
process, so a size that takes too long is stopped after ``--timeout`` seconds and shown as
"> t"; the figure is the child's CPU time (``time.process_time``) of the cleaning, the best of
``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_NAMES = ["Geneva", "Oslo", "Nairobi", "Lima", "Hanoi", "Quito", "Dakar", "Tbilisi", "Perth",
          "Porto", "Accra", "Riga", "Cusco", "Male", "Apia", "Suva"]
_PEOPLE = ["the minister", "a spokeswoman", "the mayor", "local farmers", "the central bank",
           "two engineers", "the ferry operator", "residents", "the coach", "a court"]
_VERBS = ["said", "announced", "warned", "confirmed", "denied", "reported", "expected",
          "insisted", "noted", "argued"]
_THINGS = ["the new bridge", "water prices", "the harvest", "a late train", "the budget",
           "coastal roads", "the school year", "fuel imports", "the election", "a festival"]
_TAILS = ["would open in spring", "had risen by {n} percent", "was delayed again",
          "will cost {n} million", "remained under review", "could reach {n} visitors",
          "was cancelled after the storm", "drew {n} people on Sunday"]
_WORDS = ("river market station harbour council village mountain season ticket garden bridge "
          "morning winter island street factory orchard library museum ferry valley").split()

KINDS = ("varied", "repeated", "word_loop", "phrase_loop", "no_punct", "name_pairs", "list_loop",
         "and_loop")


def _sentence(rng: random.Random) -> str:
    """One news-like sentence, its possessive written as UTF-8 read as cp1252 ("Genevaâ€™s")."""
    place = rng.choice(_NAMES)
    tail = rng.choice(_TAILS).format(n=rng.randint(2, 900))
    sep = "\u00e2\u20ac\u2122" if rng.random() < 0.5 else "'"
    return (f"{place}{sep}s {rng.choice(_PEOPLE)} {rng.choice(_VERBS)} that "
            f"{rng.choice(_THINGS)} {tail}.")


def one_line(kind: str, size: int, seed: int = 7) -> str:
    """A document of one line of about ``size`` characters of the given kind."""
    rng = random.Random(seed)
    if kind == "varied":
        unit = None
    elif kind == "repeated":
        unit = "Geneva\u00e2\u20ac\u2122s mayor said that the new bridge would open in spring. "
    elif kind == "word_loop":
        unit = "checks "
    elif kind == "phrase_loop":
        unit = "in the city of "
    elif kind == "no_punct":
        unit = None
    elif kind == "name_pairs":  # a rare capitalised word doubled, over and over
        unit = "Vinh Vinh, "
    elif kind == "list_loop":
        unit = "the old town, "
    elif kind == "and_loop":
        unit = "more and "
    else:
        raise ValueError(f"unknown kind {kind!r}; available: {', '.join(KINDS)}")
    if unit is not None:
        head = "The council met on Monday and " if kind in ("word_loop", "phrase_loop") else ""
        return (head + unit * (size // len(unit) + 1))[:size].rstrip() + "."
    parts, n = [], 0
    while n < size:
        piece = (_sentence(rng) if kind == "varied"
                 else " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 30))))
        parts.append(piece)
        n += len(piece) + 1
    return " ".join(parts)[:size].rstrip()


_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from bench.long_lines import one_line
from tasks.clean import clean_text
kind, size, repeat = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
text = one_line(kind, size)
clean_text("Warm up the tagger: the the cat.")
best = None
for _ in range(repeat):
    from tasks.clean import normalize, repetition
    for f in (normalize._fix_line, repetition._words_for_checks, repetition._joined_for_checks,
              repetition._has_phrase_repeat, repetition._word_counts):
        f.cache_clear()
    t0 = time.process_time()
    result = clean_text(text)
    cpu = time.process_time() - t0
    best = cpu if best is None else min(best, cpu)
print(json.dumps({"cpu": best, "edits": len(result.edits), "flags": len(result.flags)}))
"""


def measure(kind: str, kb: int, repeat: int, timeout: float) -> str:
    try:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(REPO), kind, str(kb * 1000),
                              str(repeat)], capture_output=True, text=True, timeout=timeout,
                             check=True, env={"OPENBLAS_NUM_THREADS": "1", "PATH": ""})
    except subprocess.TimeoutExpired:
        return f"> {timeout:g}"
    except subprocess.CalledProcessError as exc:
        return f"failed: {exc.stderr.strip().splitlines()[-1]}"
    return f"{json.loads(out.stdout.strip().splitlines()[-1])['cpu']:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), choices=KINDS)
    parser.add_argument("--sizes", nargs="*", type=int, default=[10, 20, 40, 80, 160, 320, 1000],
                        help="KB")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60,
                        help="seconds (wall) after which a size is stopped")
    args = parser.parse_args()
    print("| one-line document | " + " | ".join(f"{s} KB" for s in args.sizes) + " |")
    print("|---|" + "---:|" * len(args.sizes))
    for kind in args.kinds:
        cells, stopped = [], False
        for kb in args.sizes:
            cell = "-" if stopped else measure(kind, kb, args.repeat, args.timeout)
            stopped = stopped or cell.startswith(">")  # a longer line takes longer still
            cells.append(cell)
            print(f"  {kind} {kb} KB: {cell}", file=sys.stderr, flush=True)
        print(f"| {kind} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
