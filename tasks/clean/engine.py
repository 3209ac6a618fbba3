"""The edit engine: rules propose edits on the current text; the engine applies them and keeps
the alignment between raw and clean text, so every repair is recorded with offsets in both.

Contract of the result:
- ``edits`` are sorted, non-overlapping spans of ``raw_text``; replacing each
  ``raw_text[raw_start:raw_end]`` (== ``before``) by ``after`` gives ``clean_text``, and
  ``clean_text[clean_start:clean_end] == after``;
- ``flags`` mark spans the cleaner left unchanged for a person to review.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np


@dataclass(frozen=True, slots=True)
class Edit:
    """A rule's proposal: replace ``text[start:end]`` of the current text by ``replacement``."""

    start: int
    end: int
    replacement: str
    rule: str
    reason: str = ""  # the evidence that decided it, for a reviewer


@dataclass(frozen=True, slots=True)
class Flag:
    """A rule's remark on ``text[start:end]`` of the current text; the text is not changed."""

    start: int
    end: int
    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class AppliedEdit:
    rule: str
    raw_start: int
    raw_end: int
    clean_start: int
    clean_end: int
    before: str
    after: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AppliedFlag:
    rule: str
    raw_start: int
    raw_end: int
    clean_start: int
    clean_end: int
    text: str
    message: str


RuleFn = Callable[[str], Iterable[Edit | Flag]]


class TooSlow(Exception):
    """Cleaning one document went past its time budget: the document is rejected, not waited
    for."""

    reject_reason = "too_slow"  # the rejects table's reason (``tasks.batch.Failures``)


@dataclass(slots=True)
class _Budget:
    deadline: float  # on time.monotonic()
    seconds: float
    rule: str = ""  # the rule running


# The budget of the document being cleaned in this thread or task (None: no limit): a context
# variable, so that threads cleaning documents side by side each see their own.
_BUDGET: ContextVar[_Budget | None] = ContextVar("clean_budget", default=None)


@contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Cleaning inside this block raises ``TooSlow`` at the first ``check_time()`` after
    ``seconds`` of wall clock (what a run waits); None: no limit. Cooperative, not a signal: a
    signal reaches only the main thread, and the thread runner cleans in another."""
    if seconds is None:
        yield
        return
    token = _BUDGET.set(_Budget(time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _BUDGET.reset(token)


def check_time() -> None:
    """Raise ``TooSlow`` if the document being cleaned is past its budget. Cheap (a context
    variable and a clock read): the engine calls it before every rule pass, rules inside their
    long loops."""
    budget = _BUDGET.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise TooSlow(f"cleaning took longer than its budget of {budget.seconds:g} s "
                      f"(max_document_seconds), stopped in rule {budget.rule!r}")


def _running(rule: str) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.rule = rule


@dataclass(frozen=True, slots=True)
class Rule:
    """A named rule: ``propose(text)`` returns edits and flags for the current text."""

    name: str
    propose: RuleFn
    passes: int = 1  # run again on its own output, up to this many times, until it is stable
    # run only if one of these rules changed the text earlier in the run (a second round)
    only_after: frozenset[str] = frozenset()


class OffsetMap:
    """Maps spans between raw and clean text through a sorted list of applied edits."""

    def __init__(self, edits: Sequence[AppliedEdit]) -> None:
        self._raw_starts = [e.raw_start for e in edits]
        self._raw_ends = [e.raw_end for e in edits]
        self._clean_starts = [e.clean_start for e in edits]
        self._clean_ends = [e.clean_end for e in edits]
        # delta[i] = (clean - raw) offset after the first i edits
        self._delta = [0, *accumulate((e.clean_end - e.clean_start) - (e.raw_end - e.raw_start)
                                      for e in edits)]

    @staticmethod
    def _start(pos: int, a_starts: list[int], a_ends: list[int], b_starts: list[int],
               delta: list[int], sign: int) -> int:
        i = bisect_right(a_ends, pos)  # edits wholly before pos
        if i < len(a_starts) and a_starts[i] < pos:  # pos falls inside edit i
            return b_starts[i]
        return pos + sign * delta[i]

    @staticmethod
    def _end(pos: int, a_starts: list[int], a_ends: list[int], b_ends: list[int],
             delta: list[int], sign: int) -> int:
        i = bisect_left(a_starts, pos)  # edits starting before pos
        if i > 0 and a_ends[i - 1] > pos:  # pos falls inside edit i-1
            return b_ends[i - 1]
        return pos + sign * delta[i]

    def to_raw(self, clean_start: int, clean_end: int) -> tuple[int, int]:
        """The raw span that became ``clean_text[clean_start:clean_end]``."""
        s = self._start(clean_start, self._clean_starts, self._clean_ends, self._raw_starts,
                        self._delta, -1)
        e = self._end(clean_end, self._clean_starts, self._clean_ends, self._raw_ends,
                      self._delta, -1)
        return s, max(s, e)

    def to_clean(self, raw_start: int, raw_end: int) -> tuple[int, int]:
        """The clean span that ``raw_text[raw_start:raw_end]`` became."""
        s = self._start(raw_start, self._raw_starts, self._raw_ends, self._clean_starts,
                        self._delta, 1)
        e = self._end(raw_end, self._raw_starts, self._raw_ends, self._clean_ends,
                      self._delta, 1)
        return s, max(s, e)


@dataclass(slots=True)
class CleanResult:
    raw_text: str
    clean_text: str
    edits: list[AppliedEdit] = field(default_factory=list)
    flags: list[AppliedFlag] = field(default_factory=list)

    @property
    def offsets(self) -> OffsetMap:
        return OffsetMap(self.edits)


def replay(raw_text: str, edits: Iterable[AppliedEdit]) -> str:
    """Apply recorded edits (raw offsets) to the raw text; gives the clean text."""
    out, pos = [], 0
    for e in sorted(edits, key=lambda e: e.raw_start):
        out.append(raw_text[pos:e.raw_start])
        out.append(e.after)
        pos = e.raw_end
    out.append(raw_text[pos:])
    return "".join(out)


def _normalise(text: str, edits: list[Edit]) -> list[Edit]:
    """Sort, drop overlaps (first wins) and trim each edit to the characters it changes."""
    out: list[Edit] = []
    last_end = -1
    for e in sorted(edits, key=lambda e: (e.start, e.end)):
        if e.start < 0 or e.end > len(text) or e.start > e.end:
            raise ValueError(f"rule {e.rule!r} proposed an edit outside the text: {e}")
        start, end, rep = e.start, e.end, e.replacement
        old = text[start:end]
        # trim the common prefix and suffix, so the record shows only what changed
        p = 0
        while p < len(old) and p < len(rep) and old[p] == rep[p]:
            p += 1
        s = 0
        while s < len(old) - p and s < len(rep) - p and old[-1 - s] == rep[-1 - s]:
            s += 1
        start, end, rep = start + p, end - s, rep[p:len(rep) - s]
        if start == end and not rep:
            continue
        if start < last_end or (start == last_end and out and start == out[-1].start == end):
            continue
        out.append(Edit(start, end, rep, e.rule, e.reason))
        last_end = end
    return out


class _Alignment:
    """Per-character provenance of the current text: which raw character each one copies."""

    def __init__(self, raw_len: int) -> None:
        self.src = np.arange(raw_len, dtype=np.int64)  # raw index, or -1 if inserted
        # ids into ``origins`` (0: none) of the edit that inserted / deleted a character
        self.ins_rule = np.zeros(raw_len, dtype=np.int32)
        self.del_rule = np.zeros(raw_len, dtype=np.int32)
        self.origins: list[tuple[str, str]] = [("", "")]  # (rule, reason)

    def raw_span(self, start: int, end: int, raw_len: int) -> tuple[int, int]:
        """Raw span covering current ``[start, end)``."""
        src = self.src
        copied = np.flatnonzero(src[start:end] >= 0)
        if len(copied):  # the span's own copied characters bound it: no look outside it
            lo = int(src[start + copied[0]])
            return lo, max(lo, int(src[start + copied[-1]]) + 1)
        before = np.flatnonzero(src[:start] >= 0)
        after = np.flatnonzero(src[end:] >= 0)
        lo = int(src[before[-1]]) + 1 if len(before) else 0
        hi = int(src[end + after[0]]) if len(after) else raw_len
        return lo, max(lo, hi)

    def apply(self, text: str, edits: list[Edit]) -> str:
        txt, src, ins = [], [], []
        pos = 0
        for e in edits:
            rule_id = len(self.origins)
            self.origins.append((e.rule, e.reason))
            txt.append(text[pos:e.start])
            src.append(self.src[pos:e.start])
            ins.append(self.ins_rule[pos:e.start])
            gone = self.src[e.start:e.end]
            self.del_rule[gone[gone >= 0]] = rule_id
            txt.append(e.replacement)
            src.append(np.full(len(e.replacement), -1, dtype=np.int64))
            ins.append(np.full(len(e.replacement), rule_id, dtype=np.int32))
            pos = e.end
        txt.append(text[pos:])
        src.append(self.src[pos:])
        ins.append(self.ins_rule[pos:])
        self.src = np.concatenate(src)
        self.ins_rule = np.concatenate(ins)
        return "".join(txt)

    def final_edits(self, raw: str, clean: str) -> list[AppliedEdit]:
        src = self.src
        n = len(src)
        copied = src >= 0
        # a kept run starts where a copied char does not continue the previous one
        cont = np.zeros(n, dtype=bool)
        if n > 1:
            cont[1:] = copied[1:] & copied[:-1] & (src[1:] == src[:-1] + 1)
        starts = np.flatnonzero(copied & ~cont)
        # a run ends before the next index that does not continue it
        breaks = np.flatnonzero(~np.append(cont[1:], False))
        run_end = breaks[np.searchsorted(breaks, starts)] + 1
        out: list[AppliedEdit] = []
        prev_c, prev_r = 0, 0
        for s, e in zip(starts.tolist(), run_end.tolist()):
            r0 = int(src[s])
            if s > prev_c or r0 > prev_r:
                out.append(self._edit(raw, clean, prev_r, r0, prev_c, s))
            prev_c, prev_r = e, int(src[e - 1]) + 1
        if n > prev_c or len(raw) > prev_r:
            out.append(self._edit(raw, clean, prev_r, len(raw), prev_c, n))
        return [e for e in out if e.before != e.after]

    def _edit(self, raw: str, clean: str, r0: int, r1: int, c0: int, c1: int) -> AppliedEdit:
        ids = self.del_rule[r0:r1].tolist() + self.ins_rule[c0:c1].tolist()
        named = set(ids)
        named.discard(0)
        if len(named) == 1:  # one edit made all of it (the usual case): no votes to count
            oid = named.pop()
        else:
            votes = Counter(ids)
            votes.pop(0, None)
            # the edit that changed most characters names the rule; ties go to the later edit
            oid = max(votes.items(), key=lambda kv: (kv[1], kv[0]))[0] if votes else 1
        rule, reason = self.origins[oid]
        return AppliedEdit(rule, r0, r1, c0, c1, raw[r0:r1], clean[c0:c1], reason)


def run_rules(raw_text: str, rules: Sequence[Rule], budget: float | None = None) -> CleanResult:
    """Run the rules in order on the text; each sees the output of the ones before it. Past
    ``budget`` seconds (None: no limit), ``TooSlow`` is raised."""
    with time_budget(budget):
        return _run_rules(raw_text, rules)


def _run_rules(raw_text: str, rules: Sequence[Rule]) -> CleanResult:
    text = raw_text
    alignment: _Alignment | None = None
    raw_flags: dict[tuple[str, int, int], Flag] = {}
    changed: set[str] = set()
    for rule in rules:
        if rule.only_after and not rule.only_after & changed:
            continue
        _running(rule.name)
        for _ in range(rule.passes):
            check_time()
            proposals = list(rule.propose(text))
            if not proposals:  # the text is stable under this rule: no further pass can differ
                break
            edits = [p for p in proposals if isinstance(p, Edit)]
            for f in proposals:
                if isinstance(f, Flag):
                    span = (f.start, f.end) if alignment is None else alignment.raw_span(
                        f.start, f.end, len(raw_text))
                    raw_flags.setdefault((f.rule, *span), f)
            edits = _normalise(text, edits)
            if not edits:
                break
            if alignment is None:
                alignment = _Alignment(len(raw_text))
            text = alignment.apply(text, edits)
            changed.add(rule.name)
    applied = alignment.final_edits(raw_text, text) if alignment is not None else []
    result = CleanResult(raw_text, text, applied)
    if raw_flags:
        offsets = OffsetMap(applied)
        for (rule, r0, r1), f in sorted(raw_flags.items(), key=lambda kv: kv[0][1:]):
            c0, c1 = offsets.to_clean(r0, r1)
            result.flags.append(AppliedFlag(rule, r0, r1, c0, c1, raw_text[r0:r1], f.message))
    return result
