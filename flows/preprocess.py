"""The preprocess flow: raw text in, cleaned and annotated Parquet tables out.

    python -m flows.preprocess --source data/raw --output output

Read top to bottom: check the settings -> find sources -> (per batch) read and triage ->
[clean -> annotate -> write aside, one task on a worker] -> publish -> record the run.
The settings are defined in ``flows/settings.py``; the skip policy in ``flows/triage.py``;
counts and progress in ``flows/progress.py``; the artifacts in ``flows/summary.py``; runner
choice in ``flows/runners.py``; Ctrl-C and SIGTERM in ``flows/signals.py``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shlex
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.context import get_run_context
from prefect.exceptions import TerminationSignal
from prefect.futures import PrefectFuture
from prefect.states import Completed
from pydantic import ValidationError

from flows.progress import Progress, size_of
from flows.runners import (
    choose_runner,
    cluster_slots,
    default_workers,
    local_server,
    make_task_runner,
    subflows_beat_with_their_parent,
    workers_share_this_api,
)
from flows.server import (
    ConfiguredServerDown,
    TemporaryServerTimeout,
    configured_server,
    prefect_starts_no_server,
    temporary_server,
)
from flows.settings import RunSettings, command_line, flat_parameters
from flows.signals import STOP, Interrupted, install_handlers, signals_noted, stop_now
from flows.summary import publish_summary
from flows.triage import Triage
from flows.watchdog import processes_die_with_this_one
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
from tasks.annotate import EntityPatterns, load_pipeline, model_version, read_entity_patterns
from tasks.batch import Batch, chunk, incoming_table, rejects_table, sightings_table
from tasks.clean import CleanConfig, cleaner_version
from tasks.entities.index import update_entity_index
from tasks.faults import failpoint
from tasks.ingest import (
    Document,
    Limits,
    Reject,
    find_sources,
    read_sources,
    resolved_source,
    source_name,
)
from tasks.process import process_batch
from tasks.report import write_report

Log = logging.Logger | logging.LoggerAdapter  # what get_run_logger() gives


class TooManyRejects(RuntimeError):
    pass


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


def index_and_report(run: Run, row: dict, counts: dict) -> tuple[str | None, dict]:
    """The corpus's entity index and this run's report (its path), built from the published
    tables once the batches' workers have exited, so the index's memory does not add to theirs.
    Under the output's lock; a failure is recorded in the run's row (its message), it does not
    fail the run: the tables are published. The row's ``finished_at`` is when this is done.
    Returns the report's path and the seconds each step took."""
    logger = get_run_logger()
    report = None
    seconds: dict[str, float] = {}
    with output_lock(run.output):
        try:
            # this run's documents (and any a dead run left) folded into the index: the cost
            # follows what was published since the last fold, not the corpus
            started = time.perf_counter()
            folded = update_entity_index(run.output)
            seconds["entity_index"] = round(time.perf_counter() - started, 3)
            logger.info("entity index: %s", folded)
            started = time.perf_counter()
            report = str(write_report(run.output, run.run_id, row["status"], counts))
            seconds["report"] = round(time.perf_counter() - started, 3)
            logger.info("report: %s", report)
        except Exception as exc:
            logger.exception("the entity index or the report could not be written")
            row["message"] = f"tables published; index/report failed: {type(exc).__name__}: {exc}"
        row["finished_at"] = datetime.now(UTC)
        write_run(run.output, row)
    return report, seconds


# In-process runs ("thread") submit their batches to the flow's own runner, one at a time.
@flow(name="preprocess", persist_result=False, task_runner=make_task_runner("thread", 1))
@flat_parameters(RunSettings)
def preprocess(**values: object) -> dict:
    """Clean machine-translation artifacts, annotate entities, write Parquet tables.

    The run ends Completed (its message counts rejects), or Failed when more than
    ``max_reject_fraction`` of the input documents were rejected (the tables are published
    either way: the rejects are there to look at). A document over ``max_document_bytes`` or
    the rest of a file past ``max_file_bytes`` (uncompressed) is a ``too_large`` reject.
    """
    logger = get_run_logger()
    settings = RunSettings(**values)
    run = Run.prepare(settings)
    sources = find_sources(settings.source, exclude=run.output)
    chosen = choose_runner(settings.runner, sources, settings.dask_address)
    if chosen == "thread":
        n_workers = 1
    elif chosen == "dask" and settings.dask_address:  # the cluster's size, not this machine's
        n_workers = cluster_slots(settings.dask_address)
    else:
        n_workers = settings.workers or default_workers()
    logger.info("run %s: %d files under %s -> %s (cleaner %s, model %s, %s runner%s, %d workers)",
                run.run_id, len(sources), settings.source, run.output, run.cleaner, run.model,
                chosen, " (auto)" if settings.runner == "auto" else "", n_workers)
    # the pool's workers die with this process (a deployment's flow run has no main())
    with processes_die_with_this_one(), workers_share_this_api(), \
            subflows_beat_with_their_parent():
        # a batch in hand for each worker and one ready: more only holds memory
        if chosen == "thread":  # here, on this flow's runner: no subflow to start and end
            row, counts = process_sources.fn(settings, run, sources, n_workers + 1)
        else:  # a subflow, to run on the chosen task runner
            task_runner = make_task_runner(chosen, n_workers, settings.dask_address)
            row, counts = process_sources.with_options(task_runner=task_runner)(
                settings, run, sources, n_workers + 1)
    report, end_of_run = index_and_report(run, row, counts)
    status = row["status"]
    summary = {"run_id": run.run_id, "status": status, "output": run.output, "report": report,
               "end_of_run_seconds": end_of_run, **counts}
    publish_summary(run.run_id, status, counts, run.output, report)
    message = (f"{counts['documents']} documents, {counts['rejects']} rejects, "
               f"{counts['skipped']} skipped, {counts['edits']} edits, "
               f"{counts['entities']} entities")
    logger.info("run %s %s: %s", run.run_id, status, message)
    inputs = counts["documents"] + counts["rejects"]
    if inputs and counts["rejects"] / inputs > settings.max_reject_fraction:
        raise TooManyRejects(
            f"{counts['rejects']} of {inputs} input documents were rejected (more than "
            f"max_reject_fraction={settings.max_reject_fraction}); the tables are published, "
            f"see rejects by reason: {counts['rejects_by_reason']}")
    if counts["rejects"]:
        logger.warning("%d input documents were rejected: %s", counts["rejects"],
                       counts["rejects_by_reason"])
    return Completed(message=message, data=summary)


def _run_starting_the_server(server: str | None, values: dict) -> dict:
    """The flow run, against ``server`` or a temporary server of its own (flows/server.py),
    which boots while this process loads what the run will need."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if server:
        with temporary_settings({PREFECT_API_URL: server}):
            return preprocess(**values)
    with temporary_server(meanwhile=lambda: _load_ahead(values)) as url, \
            temporary_settings({PREFECT_API_URL: url}):
        return preprocess(**values)


def _load_ahead(values: dict) -> None:
    """While the server boots: the model, when the batches will run in this process (a
    small input, the "auto" runner). A failure here is the run's to report, not this one's."""
    with contextlib.suppress(Exception):
        settings = RunSettings(**values)
        sources = find_sources(settings.source, exclude=settings.output)
        if choose_runner(settings.runner, sources, settings.dask_address) == "thread":
            patterns = (read_entity_patterns(settings.entity_patterns)
                        if settings.entity_patterns else None)
            load_pipeline(settings.model, patterns)


def main(argv: list[str] | None = None) -> int:
    prog = "mtclean" if Path(sys.argv[0]).name == "mtclean" else "python -m flows.preprocess"
    parser = command_line(RunSettings, prog, __doc__)
    args = parser.parse_args(argv)
    if args.dask_address:
        args.runner = "dask"
    try:  # checked here too, so a bad value fails before a Prefect server starts
        RunSettings(**vars(args))
    except ValidationError as exc:
        flags = {a.dest: a.option_strings[0] for a in parser._actions if a.option_strings}
        for e in exc.errors():  # one line per bad setting: its flag, the value, what is wrong
            name = str(e["loc"][0])
            value = getattr(args, name)
            shown = (shlex.join(value) or "(no values)" if isinstance(value, list)
                     else shlex.quote(value) if isinstance(value, str) else value)
            print(f"{parser.prog}: error: {flags.get(name, name)} {shown}: "
                  f"{e['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO)
    install_handlers()
    try:  # the server PREFECT_API_URL names; else `make server`'s, if up; else a temporary one
        server = configured_server()
    except ConfiguredServerDown as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    if not server and (server := local_server()):  # the run shows in `make server`'s UI
        print(f"using the Prefect server at {server}", file=sys.stderr)
    prefect_starts_no_server()
    try:
        with processes_die_with_this_one():  # the server and the workers, if this one is killed
            summary = _run_starting_the_server(server, vars(args))
    except TemporaryServerTimeout as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    except (Interrupted, TerminationSignal, KeyboardInterrupt):
        stop_now(128 + (STOP.signum or signal.SIGINT))
    except Exception:
        if STOP.signum is not None:  # a failure the interrupt caused (its API server died)
            stop_now(128 + STOP.signum)
        raise
    print(json.dumps({k: summary[k] for k in ("run_id", "status", "output", "documents",
                                              "rejects", "skipped", "edits", "flags",
                                              "entities", "report", "end_of_run_seconds")},
                     indent=2))
    if STOP.signum is not None:  # asked to stop as the run ended: its servers may be gone
        stop_now(128 + STOP.signum)
    return 0


def _exit(code: int) -> None:
    """Exit without tearing the interpreter down: the exit handlers run (logs flushed, Prefect's
    services drained), but not the collection of every module's objects, which took ~1 s."""
    import atexit

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
