"""Rule families that repair the character level: ``encoding`` and ``whitespace``."""

from __future__ import annotations

import difflib
import html
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from functools import lru_cache
from itertools import accumulate

import ftfy

from tasks.clean.engine import Edit, check_time
from tasks.clean.registry import RuleSpec

# ftfy repairs mojibake and nothing else here: quotes, widths, ligatures and line breaks of
# correct text are left as the author wrote them.
_FTFY = ftfy.TextFixerConfig(
    unescape_html=False,
    remove_terminal_escapes=True,
    fix_encoding=True,
    restore_byte_a0=True,
    replace_lossy_sequences=True,
    decode_inconsistent_utf8=True,
    fix_c1_controls=True,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    fix_surrogates=True,
    remove_control_chars=False,
    normalization=None,
    explain=False,
)

# Characters that occur in UTF-8 read as Latin-1/cp1252 (the usual mojibake); a line without
# any of them cannot need ftfy, which is the expensive step.
_MOJIBAKE_HINT = re.compile("[\u00c2-\u00c5\u00c3\u00e2\u00ce\u00cf\u00d0\u00d1\u00e0-\u00ef\u0080-\u009f\ufffd\u20ac\u2122\u0152\u0153\u0161\u0178\u017e\u201a\u201e\u2020\u2021\u2030\u2039\u203a]")  # noqa: E501
_HTML_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Cc controls except tab/newline/CR, plus invisible format characters that carry no meaning
# in running text (ZWJ/ZWNJ and bidi marks are kept: emoji and RTL scripts need them).
_INVISIBLE = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u200b\u2060\ufeff\ufffe]+")  # noqa: E501
_SURROGATE = re.compile("[\ud800-\udfff]+")


class _Matcher(difflib.SequenceMatcher):
    """difflib's matcher, its longest block found by substring search (at C speed) instead of its
    per-character table. Without junk (none here, autojunk off) both give what difflib specifies:
    the longest block of ``a[alo:ahi]`` in ``b[blo:bhi]``, earliest in ``a``, then in ``b``."""

    def find_longest_match(self, alo: int = 0, ahi: int | None = None, blo: int = 0,
                           bhi: int | None = None) -> difflib.Match:
        a, b = self.a, self.b
        ahi = len(a) if ahi is None else ahi
        bhi = len(b) if bhi is None else bhi
        within = b[blo:bhi]
        size, at = 0, alo  # a block of ``size`` starts at ``at``; none is longer than ``most``
        most = min(ahi - alo, bhi - blo)
        while size < most:  # binary search: a block of k holds one of every shorter length
            k = (size + most + 1) // 2
            i = next((i for i in range(alo, ahi - k + 1) if a[i:i + k] in within), -1)
            if i < 0:
                most = k - 1
            else:
                size, at = k, i
        if not size:
            return difflib.Match(alo, blo, 0)
        return difflib.Match(at, b.find(a[at:at + size], blo, bhi), size)


# A line up to this long (old and new together) is diffed at once; a longer one in the pieces
# where it differs, each bounded, so that the diff is linear in the line's length.
_WHOLE_DIFF = 2000
# Two long lines are back in step where the next 32 characters of both agree (or 8, or 1 when
# no longer stretch agrees nearby: a line of Cyrillic mojibake agrees only at its spaces), looked
# for up to 256 characters past where they began to differ.
_ANCHORS = (32, 8, 1)
_REACH = 256


def _diff_edits(old: str, new: str, offset: int, rule: str) -> Iterator[Edit]:
    """Minimal edits turning ``old`` into ``new`` (a line or a word)."""
    pieces = ([(0, len(old), 0, len(new))] if len(old) + len(new) <= _WHOLE_DIFF
              else _differing_pieces(old, new))
    for i0, i1, j0, j1 in pieces:
        check_time()
        sm = _Matcher(None, old[i0:i1], new[j0:j1], autojunk=False)
        for op, a1, a2, b1, b2 in sm.get_opcodes():
            if op != "equal":
                yield Edit(offset + i0 + a1, offset + i0 + a2, new[j0 + b1:j0 + b2], rule)


def _agree(old: str, i: int, new: str, j: int) -> int:
    """How many characters ``old[i:]`` and ``new[j:]`` share at their start: compared in
    slices that double while they agree (at C speed), the last one character by character."""
    n = min(len(old) - i, len(new) - j)
    done, step = 0, 16
    while done < n:
        k = min(step, n - done)
        if old[i + done:i + done + k] == new[j + done:j + done + k]:
            done += k
            step *= 2
            continue
        while old[i + done] == new[j + done]:
            done += 1
        return done
    return done


def _in_step(old: str, i: int, new: str, j: int,
             anchors: tuple[int, ...] = _ANCHORS) -> tuple[int, int, int]:
    """Where ``old`` and ``new``, which differ at ``old[i]`` and ``new[j]``, agree again: the
    first place in ``old`` whose next characters ``new`` holds nearby, where it holds them, and
    how many characters agreed (0: none in reach, both are cut ``_REACH`` on). Either string's
    end counts."""
    for size in anchors:
        for di in range(min(_REACH, len(old) - i) + 1):
            at = i + di
            anchor = old[at:at + size]
            if len(anchor) < size:  # the end of old: its tail must be new's tail
                tail = len(new) - len(anchor)
                if tail >= j and tail - j <= _REACH and new.endswith(anchor):
                    return at, tail, size
                continue
            k = new.find(anchor, j, j + _REACH + size)
            if k >= 0:
                return at, k, size
    return min(len(old), i + _REACH), min(len(new), j + _REACH), 0


def _differing_pieces(old: str, new: str) -> Iterator[tuple[int, int, int, int]]:
    """(i0, i1, j0, j1): stretches ``old[i0:i1]`` and ``new[j0:j1]`` that differ, between
    stretches that agree, in order; each is at most a few hundred characters. Linear in the
    length of the line (a difflib diff of a 1 MB line with a repair in every sentence takes
    hours: it looks for the longest agreeing block again in each stretch between two)."""
    i = j = 0
    anchors = _ANCHORS
    while i < len(old) or j < len(new):
        same = _agree(old, i, new, j)
        i, j = i + same, j + same
        if i == len(old) or j == len(new):
            if i < len(old) or j < len(new):
                yield i, len(old), j, len(new)
            return
        if same >= _ANCHORS[0]:  # out of a stretch that agreed only in single characters
            anchors = _ANCHORS
        i1, j1, size = _in_step(old, i, new, j, anchors)
        # in a stretch where only single characters agree (a line of Cyrillic mojibake agrees
        # at its spaces), the longer looks, which fail there 500 times a word, are not tried again
        anchors = _ANCHORS[-1:] if size < _ANCHORS[-2] else _ANCHORS
        if (i1, j1) == (i, j):  # cannot be: old[i] != new[j]; guards the loop all the same
            i1, j1 = i + 1, j + 1
        yield i, i1, j, j1
        i, j = i1, j1


def _lines(text: str) -> Iterator[tuple[int, str]]:
    pos = 0
    for line in text.splitlines(keepends=True):
        yield pos, line
        pos += len(line)


@lru_cache(maxsize=1024)  # a line is looked at again on each pass, and recurs across documents
def _fix_line(line: str) -> str:
    return ftfy.fix_text(line, _FTFY)


def _hinted_lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) of each line that holds a ``_MOJIBAKE_HINT`` character, in order: found by
    searching the whole text, not line by line."""
    m = _MOJIBAKE_HINT.search(text)
    if m is None:
        return
    lines = text.splitlines(keepends=True)
    ends = list(accumulate(map(len, lines)))
    while m is not None:
        i = bisect_right(ends, m.start())  # the line that holds the hint
        yield ends[i] - len(lines[i]), lines[i]
        m = _MOJIBAKE_HINT.search(text, ends[i])


def _utf8_encodes(text: str) -> bool:
    """UTF-8 refuses a lone surrogate and nothing else: a text it encodes has none."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def encoding(text: str) -> list[Edit]:
    """Mojibake (via ftfy), HTML entities, control and zero-width characters, NFC."""
    if text.isascii() and "&" not in text and not _INVISIBLE.search(text):
        return []
    edits: list[Edit] = []
    for m in _SURROGATE.finditer(text) if not _utf8_encodes(text) else ():
        edits.append(Edit(m.start(), m.end(), "\ufffd", "encoding"))
    if edits:
        return edits
    # mojibake first: its C1 controls ("â€\x9d") are part of the bytes ftfy puts back together
    if not text.isascii():
        for pos, line in _hinted_lines(text):
            fixed = _fix_line(line)
            if fixed != line:
                edits.extend(_diff_edits(line, fixed, pos, "encoding"))
        if edits:
            return edits  # entities, invisible characters and NFC on the engine's next pass
    # each _INVISIBLE character is unprintable (a control or format character, or U+FFFE)
    for m in _INVISIBLE.finditer(text) if not all(map(str.isprintable, text.split("\n"))) else ():
        edits.append(Edit(m.start(), m.end(), "", "encoding"))
    for m in _HTML_ENTITY.finditer(text):
        value = html.unescape(m.group())
        if value != m.group():
            edits.append(Edit(m.start(), m.end(), value, "encoding"))
    # a text is NFC when each of its lines is: no line break composes or reorders with a mark
    if edits or text.isascii() or unicodedata.is_normalized("NFC", text):
        return edits
    for pos, line in _lines(text):
        if not unicodedata.is_normalized("NFC", line):
            edits.extend(_diff_edits(line, unicodedata.normalize("NFC", line), pos, "encoding"))
    return edits


# Inside a line, any run of spaces, tabs and no-break spaces becomes one space.
_ODD = "\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_ODD_CHAR = re.compile(f"[{_ODD}]")
# (single spaces, the common case, are not matched at all: that is most of the speed)
# The matches of (?<=\S)(?: {2,}| *[ODD][ ODD]*)(?=\S), written to start with the space or odd
# character they start with (searched for at C speed) and the lookbehinds after it: after a
# space, two or more spaces or spaces then an odd one; after an odd one, any more of either.
_SPACE_RUN = re.compile(f"[ {_ODD}](?<=\\S[ {_ODD}])"
                        f"(?:(?<= )(?: +| *[{_ODD}][ {_ODD}]*)|(?<=[{_ODD}])[ {_ODD}]*)(?=\\S)")
_TRAILING = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+(?=\n|\Z)")
_LEADING = re.compile(r"^[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+(?=\S)", re.M)
_BLANK_LINES = re.compile(r"\n{3,}")


def whitespace(text: str) -> list[Edit]:
    """CRLF and CR, tabs and no-break spaces, runs of spaces, leading/trailing spaces on a
    line, more than one blank line. Paragraph breaks (one blank line) are kept."""
    edits: list[Edit] = []
    if "\r" in text:
        for m in re.finditer(r"\r\n?", text):
            edits.append(Edit(m.start(), m.end(), "\n", "whitespace"))
        return edits  # line-level rules below see the text with LF line ends on the next pass
    # cheap substring tests first: most news text has none of these, and the scans are slow
    odd = _ODD_CHAR.search(text) is not None
    if odd or " \n" in text or text.endswith(" "):
        for m in _TRAILING.finditer(text):
            edits.append(Edit(m.start(), m.end(), "", "whitespace"))
    if odd or "\n " in text or text.startswith(" "):
        for m in _LEADING.finditer(text):
            edits.append(Edit(m.start(), m.end(), "", "whitespace"))
    if odd or "  " in text:
        for m in _SPACE_RUN.finditer(text):
            if m.group() != " ":
                edits.append(Edit(m.start(), m.end(), " ", "whitespace"))
    for m in _BLANK_LINES.finditer(text) if "\n\n\n" in text else ():  # what it matches
        edits.append(Edit(m.start() + 2, m.end(), "", "whitespace"))
    return _drop_overlaps(edits)


def _drop_overlaps(edits: list[Edit]) -> list[Edit]:
    out: list[Edit] = []
    for e in sorted(edits, key=lambda e: (e.start, -(e.end - e.start))):
        if out and e.start < out[-1].end:
            continue
        out.append(e)
    return out


RULES = (
    RuleSpec("encoding", propose=encoding, passes=4,
             # Mojibake is read per line: a no-break space the whitespace rule removes can change
             # what ftfy sees ("\xa0Â\x80"); when it edited, the encoding rule looks once more.
             again_after="whitespace"),
    RuleSpec("whitespace", propose=whitespace, passes=3),
)
