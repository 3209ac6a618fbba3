"""Cleaning one long line costs in proportion to its length, for every kind of line
``bench/long_lines.py`` makes (the timing table is that benchmark's): for a line 4x longer, the
function calls (counted with a profile hook: the same on every run) are under 6x, and the CPU
time, which also holds the loops inside C (a substring search per position was the quadratic
part of the encoding rule's diff, and makes no call a hook sees), under 8x (a quadratic rule
takes 16x)."""

from __future__ import annotations

import sys
import time

import pytest

from bench.long_lines import KINDS, one_line
from tasks.clean import clean_text, gather, replay


def _calls(text: str) -> int:
    calls = 0

    def count(frame, event, arg) -> None:  # noqa: ANN001 (sys.setprofile's hook)
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        clean_text(text)
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize("kind", KINDS)
def test_work_grows_linearly_with_the_length_of_a_line(kind: str) -> None:
    clean_text(one_line(kind, 500, seed=1))  # the first use loads word lists and the tagger
    short, long = _calls(one_line(kind, 2_500)), _calls(one_line(kind, 10_000))
    assert long < 6 * short, f"{kind}: {short:,} calls at 2.5 KB, {long:,} at 10 KB"


@pytest.mark.parametrize("kind", KINDS)
def test_a_long_line_is_cleaned_and_its_edits_replay(kind: str) -> None:
    text = one_line(kind, 20_000)
    result = clean_text(text)
    assert result.edits or result.flags or kind == "no_punct"
    assert replay(text, result.edits) == result.clean_text


def _cpu(text: str) -> float:
    """The least CPU time of three cleanings (the least is the one least disturbed)."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        clean_text(text)
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.parametrize("kind", KINDS)
def test_cpu_time_grows_linearly_with_the_length_of_a_line(kind: str) -> None:
    clean_text(one_line(kind, 500, seed=1))
    short, long = _cpu(one_line(kind, 10_000)), _cpu(one_line(kind, 40_000))
    assert long < 8 * short + 0.02, f"{kind}: {short:.3f} s CPU at 10 KB, {long:.3f} s at 40 KB"


def _names(n: int) -> list[str]:
    """``n`` distinct rare capitalised words: "Qaa", "Qab", ..."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["Q" + a + b + c for a in letters for b in letters for c in letters][:n]


def test_batch_evidence_cpu_grows_linearly_with_the_names_it_weighs() -> None:
    """Two copies of a text of n names each used doubled then single ("Qab Qab met Qab."): every
    name is a candidate of the batch's doubled names; 4x the names is < 8x the CPU (a search of
    each text for each name was n\u00b2: 0.4 -> 5.9 s for 500 -> 2,000 names)."""

    def cpu(n: int) -> float:
        text = " ".join(f"{w} {w} met {w}." for w in _names(n))
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            evidence = gather([text, text])
            best = min(best, time.process_time() - started)
        assert evidence.doubled_names == frozenset()  # single as often as doubled: no names
        return best

    short, long = cpu(1_000), cpu(4_000)
    assert long < 8 * short + 0.02, f"{short:.3f} s CPU for 1,000 names, {long:.3f} s for 4,000"
