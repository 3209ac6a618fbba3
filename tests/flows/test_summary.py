"""The run's markdown artifact: counts as tables that hostile labels and names cannot break."""

from __future__ import annotations

import re

from flows.summary import summary_markdown as _markdown

COUNTS = {"documents": 3, "rejects": 1, "skipped": 0, "edits": 2, "flags": 0, "sentences": 5,
          "entities": 4, "rejects_by_reason": {"too_large": 1}, "edits_by_rule": {},
          "flags_by_rule": {}, "seconds_by_stage": {"clean": 0.5},
          "entities_by_label": {"LEFT|RIGHT": 2, "<img src=x onerror=alert(1)>": 1,
                                "two\nlines": 1}}


def cells(row: str) -> list[str]:
    """The cells of a markdown table row, split on pipes that are not escaped."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_labels_with_pipes_html_and_newlines_keep_the_table_whole() -> None:
    md = _markdown("r1", "completed_with_rejects", COUNTS, "/out/x|y", "/out/reports/r1.html")
    labels = md.split("**Entities by label**")[1].split("**")[0].strip().splitlines()
    assert labels == [
        "| | count |",
        "|---|---:|",
        r"| LEFT\|RIGHT | 2 |",
        r"| \<img src=x onerror=alert\(1\)\> | 1 |",
        "| two lines | 1 |",
    ]
    assert all(len(cells(row)) == 2 for row in labels)
    assert re.search(r"(?<!\\)[<>]", md) is None
    assert r"Output: /out/x\|y" in md
    assert r"| 3 | 1 | 0 | 2 | 0 | 5 | 4 |" in md
