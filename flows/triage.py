"""What becomes of each input read: processed, skipped, or a ``duplicate_text`` reject.

A place is a file (and its row) by its resolved absolute path, however the source was spelled
(``x/../src``, relative, a symlink) and however an earlier version recorded it (as typed):
``Published`` names what is recorded by place (store.PublishedLookup, resolve=...).

- Recorded before from the same place with these versions (a document, a reject, a moved row):
  skipped, so an unchanged rerun records nothing again.
- The same text, published from the same file by an earlier run, now on another line (a line
  was added above it): skipped as *moved*, with a sighting at its new place.
- The same text already seen at another place: a ``duplicate_text`` reject.
- Otherwise: a document. Every input that goes on carries its sighting (file and row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from flows.progress import Progress
from store import Published
from tasks.batch import Seen, Sighting
from tasks.ingest import Document, Reject


def file_of(source: str) -> str:
    """The file of a source: ``data.jsonl`` for row ``data.jsonl#3`` (for rows published before
    sightings recorded the file itself)."""
    path, _, row = source.rpartition("#")
    return path if path and row.isdigit() else source


def row_of(source: str, path: str) -> int | None:
    """The 1-based line/row of ``source`` in the file ``path`` (None for a whole file): known
    from the file being read, so a file named ``x#1.txt`` is not row 1 of ``x``."""
    rest = source[len(path) + 1:] if source.startswith(path + "#") else ""
    digits = rest.rstrip("-")  # "f.jsonl#7-": the rest of a file from row 7 (too_large)
    return int(digits) if digits.isdigit() else None


def batched(items: Iterable, n: int) -> Iterator[tuple]:
    it = iter(items)
    while window := tuple(islice(it, n)):
        yield window


class Triage:
    """The skip and duplicate policy of one run, and what it skipped."""

    def __init__(self, seen: Published | Callable[[list[str]], Published], progress: Progress,
                 window: int = 256) -> None:
        # what earlier runs recorded: asked for each window of inputs (store.PublishedLookup),
        # so memory follows the window, not the output
        self.lookup = seen if callable(seen) else (lambda _ids: seen)
        self.window = window
        self.progress = progress  # counts what is skipped and moved
        self.this_run: dict[str, str] = {}  # doc_id -> source, of this run's documents

    def __call__(self, items: Iterable[tuple[Document | Reject, str]]) -> Iterator[Seen]:
        """``(item, file it was read from)`` in; documents and rejects paired with their
        sighting, and lone sightings of moved rows, out."""
        for window in batched(items, self.window):
            yield from self._decide(window, self.lookup([item.doc_id for item, _ in window]))

    def _decide(self, items: Iterable[tuple[Document | Reject, str]],
                seen: Published) -> Iterator[Seen]:
        for item, path in items:
            if (item.doc_id, item.source) in seen.inputs:
                self.progress.skipped += 1
                continue
            row = row_of(item.source, path)
            if isinstance(item, Reject):
                yield item, Sighting(item.doc_id, item.source, path, row, item.source)
                continue
            earlier = seen.documents.get(item.doc_id)
            here = seen.place_of(item.doc_id)  # where it was published from, as a place
            if (here is not None and item.doc_id not in self.this_run
                    and seen.paths.get(here, file_of(here)) == path):
                self.progress.skipped += 1
                self.progress.moved += 1
                yield Sighting(item.doc_id, item.source, path, row, earlier)
                continue
            first = self.this_run.get(item.doc_id) or earlier
            if first is not None:
                yield (Reject(item.doc_id, item.source, "duplicate_text",
                              f"same text as {first} (doc_id {item.doc_id[:12]}...)"),
                       Sighting(item.doc_id, item.source, path, row, first))
                continue
            self.this_run[item.doc_id] = item.source
            yield item, Sighting(item.doc_id, item.source, path, row, item.source)
