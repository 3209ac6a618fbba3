"""What a run has done so far: its counts (the runs row, the summary, the return value), a log
line per published batch, and Prefect's progress artifact (a bar on the flow run's page)."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from schemas.tables import BREAKDOWNS
from store import Staged

log = logging.getLogger(__name__)


def size_of(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class Progress:
    """Counts what the run did; logs a line per published batch."""

    def __init__(self, sources: list[str]) -> None:
        self.started = time.perf_counter()
        self.n_files = len(sources)
        self.bytes_total = sum(size_of(p) for p in sources) or 1
        self.bytes_read = 0
        self.files_read = 0
        self.batches_submitted = 0
        self.rows: Counter[str] = Counter()
        self.by: dict[str, Counter[str]] = {k: Counter() for k in BREAKDOWNS}
        self.timings: Counter[str] = Counter()
        self.skipped = 0
        self.moved = 0  # of the skipped: rows whose text an earlier run published from another line
        self.batches = 0
        self.artifact: UUID | None = None

    def add(self, staged: Staged) -> None:
        self.batches += 1
        self.rows.update(staged.rows)
        for k, c in staged.counts.items():
            self.by[k].update(c)
        self.timings.update(staged.timings)

    def done(self) -> float:
        """The share of the work done: reading runs ahead of publishing by the batches in
        flight, so estimate from both."""
        return min(1.0, self.bytes_read / self.bytes_total) * (
            self.batches / max(self.batches_submitted, 1))

    def show(self, run_id: str) -> None:
        """Start Prefect's progress artifact for this run (its bar on the flow run's page)."""
        try:
            self.artifact = create_progress_artifact(
                0.0, key="preprocess-progress", description=f"preprocess run {run_id}")
        except Exception:  # a display: the run goes on without it
            log.debug("no progress artifact", exc_info=True)

    def published(self, staged: Staged) -> str:
        """Count a published batch; move the progress bar; the log line to show."""
        self.add(staged)
        if self.artifact is not None:
            try:
                update_progress_artifact(self.artifact, 100.0 * self.done())
            except Exception:
                log.debug("progress artifact not updated", exc_info=True)
        return self.line()

    def line(self) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        docs = self.rows["documents"]
        done = self.done()
        expected = (f"~{max(self.batches, round(self.batches_submitted * self.bytes_total / max(self.bytes_read, 1)))}"
                    if self.bytes_read else "?")
        eta = f"{elapsed * (1 - done) / done:.0f}s" if done > 0 else "?"
        return (f"batch {self.batches} of {expected} published; files read "
                f"{self.files_read}/{self.n_files}; {docs} documents, {self.rows['rejects']} "
                f"rejects, {self.skipped} skipped; {docs / elapsed:.1f} documents/s; ETA {eta}")

    def counts(self) -> dict:
        return {
            "files": self.n_files, "documents": self.rows["documents"],
            "rejects": self.rows["rejects"], "skipped": self.skipped, "moved": self.moved,
            "edits": self.rows["edits"], "flags": self.rows["flags"],
            "sentences": self.rows["sentences"], "entities": self.rows["entities"],
            "sightings": self.rows["sightings"], "batches": self.batches,
            **{f"{name}_by_{column}": dict(self.by[name]) for name, column in BREAKDOWNS.items()},
            "seconds_by_stage": {k: round(v, 3) for k, v in self.timings.items()},
        }
