"""The preprocess flow: raw text in, cleaned and annotated Parquet tables out.

    python -m flows.preprocess --source data/raw --output output

Read top to bottom: check the settings -> find sources -> (per batch) read and triage ->
[clean -> annotate -> write aside, one task on a worker] -> publish -> record the run ->
fold the run into the entity index -> report.
The batches are ``flows/batches.py``; the command line ``flows/cli.py``; the settings
``flows/settings.py``; the skip policy ``flows/triage.py``; counts and progress
``flows/progress.py``; the artifacts ``flows/summary.py``; runner choice ``flows/runners.py``;
Ctrl-C and SIGTERM ``flows/signals.py``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.states import Completed

from flows.batches import Run, process_sources
from flows.runners import (
    choose_runner,
    cluster_slots,
    default_workers,
    make_task_runner,
    subflows_beat_with_their_parent,
    workers_share_this_api,
)
from flows.settings import RunSettings, flat_parameters
from flows.summary import publish_summary
from flows.watchdog import processes_die_with_this_one
from store import output_lock, write_run
from tasks.entities.index import update_entity_index
from tasks.ingest import find_sources
from tasks.report import write_report


class TooManyRejects(RuntimeError):
    pass


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


def main(argv: list[str] | None = None) -> int:
    """The command line (flows/cli.py)."""
    from flows.cli import main as command

    return command(argv)


if __name__ == "__main__":
    from flows.cli import _exit

    _exit(main())
