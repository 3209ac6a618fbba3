"""The README is a user's document: short, the two commands first, and no link leads nowhere."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 300
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def relative_links(path: Path) -> list[str]:
    """The targets of a Markdown file's links that are neither web addresses nor in-page."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:|#", t)]


def anchors(path: Path) -> set[str]:
    """The ids GitHub gives a Markdown file's headings (``## `edits` (v2)`` -> ``edits-v2``)."""
    seen: dict[str, int] = {}
    ids = set()
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        ids.add(slug if n == 0 else f"{slug}-{n}")
    return ids


def broken(path: Path) -> list[str]:
    found = []
    for target in relative_links(path):
        file, _, anchor = target.partition("#")
        where = (path.parent / file).resolve()
        if not where.exists():
            found.append(f"{target}: no such file")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            found.append(f"{target}: no heading with that id in {file}")
    return found


def test_readme_is_at_most_300_lines() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


def test_readme_first_lines_name_the_two_commands() -> None:
    first = "\n".join(README.read_text(encoding="utf-8").splitlines()[:10])
    assert "make run" in first and "make test" in first


def test_the_readmes_example_is_what_the_cleaner_does() -> None:
    """The before/after example: its raw text cleans to its clean text, with the edits it says."""
    from tasks.clean import clean_text

    text = README.read_text(encoding="utf-8")
    example = text[text.index("Given this raw text:"):]
    raw, clean = (block + "\n" for block in re.findall(r"```text\n(.*?)\n```", example,
                                                        flags=re.S)[:2])
    result = clean_text(raw)
    assert result.clean_text == clean
    assert len(result.edits) == 6 and "with six rows in `edits`" in example
    monday = [e for e in result.edits if e.before == " Monday "]
    assert [(e.rule, e.after, e.reason) for e in monday] == [(
        "duplicate_word", "", "'Monday' is a common English word (Zipf 4.8) and 'Monday Monday' "
        "is not a known name")]
    assert f"reason\n`{monday[0].reason}`" in example


def test_every_relative_link_of_the_readme_points_to_a_file_that_exists() -> None:
    assert relative_links(README), "the README links to its docs"
    assert broken(README) == []


@pytest.mark.parametrize("doc", sorted(p.name for p in (ROOT / "docs").glob("*.md")))
def test_every_relative_link_of_the_docs_points_to_a_file_that_exists(doc: str) -> None:
    assert broken(ROOT / "docs" / doc) == []


def test_the_link_checker_sees_a_missing_file_and_a_missing_heading(tmp_path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\n## `edits` (v2)\n\n## What, in detail\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](a.md#edits-v2) [ok](a.md#what-in-detail) [web](https://x.org/y) "
                    "[here](#z) [gone](b.md) [bad](a.md#nope)\n```\n[in code](c.md)\n```\n")
    assert broken(page) == ["b.md: no such file", "a.md#nope: no heading with that id in a.md"]
