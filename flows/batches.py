"""The run's batches, under the output's lock: read and triage the sources, clean and annotate
each batch on a worker (``tasks.process.process_batch``), publish them oldest first, and record
the run in ``runs`` however it ends (a stop, a failure). The flow that calls it, and what happens
before and after, is ``flows/preprocess.py``.
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.context import get_run_context
from prefect.exceptions import TerminationSignal
from prefect.futures import PrefectFuture

from flows.progress import Progress, size_of
from flows.settings import RunSettings
from flows.signals import STOP, signals_noted
from flows.triage import Triage
from store import (
    Published,
    PublishedLookup,
    Staged,
    check_output,
    output_lock,
    publish_batch,
    recover,
    write_run,
)
from tasks.annotate import EntityPatterns, model_version, read_entity_patterns
from tasks.batch import Batch, chunk, incoming_table, rejects_table, sightings_table
from tasks.clean import CleanConfig, cleaner_version
from tasks.faults import failpoint
from tasks.ingest import Document, Limits, Reject, read_sources, resolved_source, source_name
from tasks.process import process_batch

Log = logging.Logger | logging.LoggerAdapter  # what get_run_logger() gives


@dataclass(frozen=True)
class Run:
    """The facts of one run, fixed before its first batch: what every step stamps and uses."""

    run_id: str
    output: str
    cleaner: str  # cleaner_version of the config
    model: str  # model==version (+ patterns hash)
    flow_run_id: str | None
    config: CleanConfig
    patterns: EntityPatterns | None
    limits: Limits

    @classmethod
    def prepare(cls, settings: RunSettings) -> Run:
        """Check every setting that names a file or a model, before anything is written."""
        config = CleanConfig.from_options(settings.rules, settings.exceptions, settings.glossary)
        # read and checked once, here: its content goes to the workers with every batch
        patterns = (read_entity_patterns(settings.entity_patterns)
                    if settings.entity_patterns else None)
        ctx = get_run_context()
        return cls(run_id=f"r{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
                   output=str(check_output(settings.output)), cleaner=cleaner_version(config),
                   model=model_version(settings.model, patterns),
                   flow_run_id=str(ctx.flow_run.id) if getattr(ctx, "flow_run", None) else None,
                   config=config, patterns=patterns,
                   limits=Limits(settings.max_document_bytes, settings.max_file_bytes))


def _where(source: str) -> str:
    """The source as an absolute path (a scheduled run's "data/raw" says little on its own)."""
    return source if Path(source).is_absolute() else str(Path.cwd() / source)


@flow(name="preprocess-batches", persist_result=False)
def process_sources(settings: RunSettings, run: Run, sources: list[str],
                    max_inflight: int) -> tuple[dict, dict]:
    """Read, clean, annotate and publish every batch, under the output's lock. Returns the
    run's row (as recorded) and its counts."""
    logger = get_run_logger()
    started_at = datetime.now(UTC)
    out_path = run.output  # a folder or s3://bucket/prefix: the store resolves it
    progress = Progress(sources)
    run_row = functools.partial(_run_row, settings, run, progress, started_at)
    status, message = "failed", None
    with output_lock(out_path), signals_noted():
        try:
            recover(out_path)
            write_run(out_path, run_row("running", None))
            STOP.record = functools.partial(_record_interrupted, out_path, run_row)
            progress.show(run.run_id)
            # what is recorded, each source by its resolved path (as typed, before this one)
            seen = (Published({}, set()) if settings.reprocess
                    else PublishedLookup(out_path, run.cleaner, run.model,
                                         resolve=resolved_source))
            _process_and_publish(_batches(settings, run, sources, progress, seen), settings,
                                 run, progress, max_inflight, logger)
            STOP.check()
            status, message = _finished(progress, logger)
        except BaseException as exc:
            status, message = _ended_by(exc, status)
            raise
        finally:
            with STOP.publishing:  # not at the same time as a stop's own record of the run
                STOP.record = None
                try:
                    write_run(out_path, run_row(status, message))
                except OSError:
                    logger.exception("could not record the run in %s/runs", run.output)
    return run_row(status, message), progress.counts()


def _run_row(settings: RunSettings, run: Run, progress: Progress, started_at: datetime,
             status: str, message: str | None) -> dict:
    """The run's row in ``runs``, as it stands now."""
    return {"run_id": run.run_id, "flow_run_id": run.flow_run_id, "started_at": started_at,
            "finished_at": datetime.now(UTC), "source": _where(settings.source),
            "parameters": settings.model_dump_json(),
            "counts": json.dumps(progress.counts(), sort_keys=True), "status": status,
            "message": message, "cleaner_version": run.cleaner, "model": run.model}


def _record_interrupted(out_path: str, run_row: Callable[[str, str | None], dict]) -> None:
    """The run recorded as interrupted by a stop that finds the flow blocked."""
    name = signal.Signals(STOP.signum or signal.SIGINT).name
    write_run(out_path, run_row("interrupted", f"interrupted ({name}) while blocked: the "
                                "published batches stay, the next run publishes committed "
                                "ones and processes the rest"))


def _read(paths: list[str], settings: RunSettings, run: Run, progress: Progress
          ) -> Iterator[tuple[Document | Reject, str]]:
    """(document or reject, its source's name) from every file, counting the files read."""
    for path in paths:
        name = source_name(path)  # as its documents name it: storable text
        for item in read_sources([path], settings.text_column, run.limits):
            STOP.check()
            yield item, name
        progress.files_read += 1
        progress.bytes_read += size_of(path)
        failpoint("read")


def _batches(settings: RunSettings, run: Run, sources: list[str], progress: Progress,
             seen: Published | PublishedLookup) -> Iterator[Batch]:
    """The run's batches: the sources read, what is published already skipped, the rest in
    batches with their rejects and sightings."""
    parts = chunk(Triage(seen, progress, settings.batch_size)(_read(sources, settings, run,
                                                                    progress)),
                  settings.batch_size,
                  settings.batch_chars)
    for index, part in enumerate(parts):
        batch = Batch(run.run_id, index, incoming_table(part.docs),
                      cleaner_version=run.cleaner, model=run.model)
        if part.rejects:
            batch.add("rejects", rejects_table(part.rejects, run.run_id, run.cleaner,
                                               run.model))
        batch.add("sightings", sightings_table(part.sightings, run.run_id, run.cleaner,
                                               run.model))
        yield batch


def _process_and_publish(batches: Iterable[Batch], settings: RunSettings, run: Run,
                         progress: Progress, max_inflight: int, logger: Log) -> None:
    """Every batch to a worker, at most ``max_inflight`` in flight; published oldest first."""
    inflight: list[PrefectFuture] = []
    for batch in batches:
        inflight.append(process_batch.submit(batch, run.config, settings.model,
                                             run.output, run.patterns,
                                             settings.max_document_seconds))
        progress.batches_submitted += 1
        while len(inflight) > max_inflight:
            _publish_oldest(inflight, run, progress, logger)
    while inflight:
        _publish_oldest(inflight, run, progress, logger)


def _publish_oldest(inflight: list[PrefectFuture], run: Run, progress: Progress,
                    logger: Log) -> None:
    STOP.check()
    staged: Staged = inflight.pop(0).result()
    with STOP.publishing:  # a stop waits for the batch to be whole
        publish_batch(staged, run.output)
    logger.info(progress.published(staged))


def _finished(progress: Progress, logger: Log) -> tuple[str, str | None]:
    """The status and message of a run whose batches are all published."""
    counts = progress.counts()
    if progress.moved:
        logger.info("%d rows hold a text an earlier run published from another line of "
                    "the same file (lines were added above them): skipped, not rejected",
                    progress.moved)
    status = "completed_with_rejects" if counts["rejects"] else "completed"
    message = None
    if not counts["documents"] and not counts["rejects"]:
        message = f"nothing new: {counts['skipped']} documents already published"
        logger.info(message)
    return status, message


def _ended_by(exc: BaseException, status: str) -> tuple[str, str]:
    """The status and message of a run ``exc`` ended (``status``: the run's until then)."""
    if STOP.signum is not None or isinstance(exc, KeyboardInterrupt | TerminationSignal):
        name = signal.Signals(STOP.signum or getattr(exc, "signal", signal.SIGINT)).name
        return "interrupted", (f"interrupted ({name}): the published batches stay, the next "
                               "run publishes committed ones and processes the rest")
    return status, f"{type(exc).__name__}: {exc}"
