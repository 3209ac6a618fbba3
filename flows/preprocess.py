"""The preprocess flow: raw text in, cleaned and annotated Parquet tables out.

    python -m flows.preprocess --source data/raw --output output

Read top to bottom: find sources -> (per batch) read -> [clean -> annotate -> write aside, one
task on a worker] -> publish -> record the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, NoReturn

import psutil
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.context import get_run_context
from prefect.exceptions import TerminationSignal
from prefect.futures import PrefectFuture
from prefect.states import Completed

from flows.runners import (
    choose_runner,
    default_workers,
    local_server,
    make_task_runner,
    workers_share_this_api,
)
from store import (
    Published,
    Staged,
    check_output,
    output_lock,
    publish_batch,
    published_ids,
    recover,
    write_run,
)
from tasks.annotate import DEFAULT_MODEL, EntityPatterns, model_version, read_entity_patterns
from tasks.batch import Batch, chunk, incoming_table, rejects_table
from tasks.clean import CleanConfig, cleaner_version
from tasks.entities import write_entity_index
from tasks.faults import failpoint
from tasks.ingest import (
    MAX_DOCUMENT_BYTES,
    MAX_FILE_BYTES,
    Document,
    Limits,
    Reject,
    find_sources,
    read_sources,
)
from tasks.process import process_batch
from tasks.report import write_report


def _where(source: str) -> str:
    """The source as an absolute path (a scheduled run's "data/raw" says little on its own)."""
    return source if Path(source).is_absolute() else str(Path.cwd() / source)


class TooManyRejects(RuntimeError):
    pass


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class Interrupted(RuntimeError):
    """Ctrl-C or SIGTERM reached the run: it stops at the next document or batch."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class _StopRequest:
    """A stop asked for by a signal: the handler only notes it, the flow acts on it between
    documents and batches. (An exception raised by a handler lands anywhere: a SIGTERM inside
    Prefect's serializer failed the run instead of interrupting it.)"""

    signum: int | None = None
    cli = False  # main() owns the process's signals (a deployment's runner keeps Prefect's)
    # records the run as interrupted if the flow cannot do it in time (blocked on a Prefect
    # API that died of the same Ctrl-C); set while a run holds its output
    record: Callable[[], object] | None = None

    def check(self) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum)


_STOP = _StopRequest()
_GRACE_SECONDS = 10.0  # for the batch in hand and the runs row, then stop regardless


def _on_signal(signum: int, frame: object) -> None:
    if _STOP.signum is not None:  # asked twice: stop now
        _stop_now(128 + signum)
    _STOP.signum = signum
    logging.getLogger(__name__).warning(
        "%s: stopping after the batch in hand (at most %.0f s; send it again to stop now)",
        signal.Signals(signum).name, _GRACE_SECONDS)
    timer = threading.Timer(_GRACE_SECONDS, _stop_now, args=(128 + signum,))
    timer.daemon = True
    timer.start()


@contextlib.contextmanager
def _signals_noted() -> Iterator[None]:
    """Within the run, Ctrl-C and SIGTERM are noted, not raised (Prefect's own SIGTERM handler,
    which raises, is set aside and put back)."""
    if not _STOP.cli or threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def _drain_prefect_events() -> None:
    from prefect._internal.concurrency.services import _QueueServiceBase

    with contextlib.suppress(Exception):
        _QueueServiceBase.drain_all(timeout=2.5)


def _stop_now(code: int) -> NoReturn:
    """Leave within seconds of Ctrl-C or SIGTERM, with nothing the run started left running.

    Prefect's exit-time drain waits (for minutes) on an API that may have died of the same
    signal: Ctrl-C reaches the whole process group, its temporary server included. Give the
    drain a few seconds, then stop every child process (the temporary server, the workers)
    and exit without the drain. The runs row is already written by then."""
    record, _STOP.record = _STOP.record, None
    if record is not None:
        try:
            record()
        except Exception:
            logging.getLogger(__name__).exception("could not record the interrupted run")
    drain = threading.Thread(target=_drain_prefect_events, daemon=True)
    drain.start()
    drain.join(3)
    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=5)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _file_of(source: str) -> str:
    """The file of a source: ``data.jsonl`` for row ``data.jsonl#3``."""
    path, _, row = source.rpartition("#")
    return path if path and row.isdigit() else source


def _new_run_id() -> str:
    return f"r{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


class _Progress:
    """Counts what the run did; logs a line per published batch."""

    def __init__(self, sources: list[str]) -> None:
        self.started = time.perf_counter()
        self.n_files = len(sources)
        self.bytes_total = sum(_size(p) for p in sources) or 1
        self.bytes_read = 0
        self.files_read = 0
        self.batches_submitted = 0
        self.rows: Counter[str] = Counter()
        self.by: dict[str, Counter[str]] = {k: Counter() for k in
                                           ("rejects", "edits", "flags", "entities")}
        self.timings: Counter[str] = Counter()
        self.skipped = 0
        self.moved = 0  # of the skipped: rows whose text an earlier run published from another line
        self.batches = 0

    def add(self, staged: Staged) -> None:
        self.batches += 1
        self.rows.update(staged.rows)
        for k, c in staged.counts.items():
            self.by[k].update(c)
        self.timings.update(staged.timings)

    def line(self) -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        docs = self.rows["documents"]
        # reading runs ahead of publishing by the batches in flight: estimate from both
        done = min(1.0, self.bytes_read / self.bytes_total) * (
            self.batches / max(self.batches_submitted, 1))
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
            "batches": self.batches,
            "rejects_by_reason": dict(self.by["rejects"]), "edits_by_rule": dict(self.by["edits"]),
            "flags_by_rule": dict(self.by["flags"]), "entities_by_label": dict(self.by["entities"]),
            "seconds_by_stage": {k: round(v, 3) for k, v in self.timings.items()},
        }


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")


def _md(value: object) -> str:
    """Text for a markdown table cell: one line, every markdown character escaped (an entity
    label or a reject reason with ``|`` would otherwise split the table)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def _markdown(run_id: str, status: str, counts: dict, output: str,
              report: str | None = None) -> str:
    def table(title: str, data: dict) -> str:
        if not data:
            return f"**{title}**: none\n"
        rows = "\n".join(f"| {_md(k)} | {_md(v)} |"
                         for k, v in sorted(data.items(), key=lambda kv: -kv[1]))
        return f"**{title}**\n\n| | count |\n|---|---:|\n{rows}\n"

    head = (f"# preprocess run {_md(run_id)}: {_md(status)}\n\n"
            f"Output: {_md(output)}\n\n"
            + (f"Report (open in a browser): {_md(report)}\n\n" if report else "")
            + "| documents | rejects | skipped | edits | flags | sentences | entities |\n"
            "|---:|---:|---:|---:|---:|---:|---:|\n"
            + " | ".join(["", *(_md(counts[k]) for k in ("documents", "rejects", "skipped",
                                                         "edits", "flags", "sentences",
                                                         "entities")), ""]).strip()
            + "\n\n")
    return head + "\n".join([
        table("Rejects by reason", counts["rejects_by_reason"]),
        table("Edits by rule", counts["edits_by_rule"]),
        table("Flags by rule", counts["flags_by_rule"]),
        table("Entities by label", counts["entities_by_label"]),
        table("Seconds by stage", counts["seconds_by_stage"]),
    ])


@flow(name="preprocess-batches", persist_result=False)
def process_sources(sources: list[str], source: str, out: str, config: CleanConfig, cleaner: str,
                    model: str, model_str: str, run_id: str, parameters: dict, batch_size: int,
                    batch_chars: int, text_column: str, reprocess: bool, max_inflight: int,
                    flow_run_id: str | None, entity_patterns: EntityPatterns | None = None,
                    limits: Limits | None = None) -> dict:
    """Read, clean, annotate and publish every batch, under the output's lock."""
    logger = get_run_logger()
    started_at = datetime.now(UTC)
    out_path = out  # a folder or s3://bucket/prefix: the store resolves it
    progress = _Progress(sources)
    status, message = "failed", None
    report: str | None = None

    def run_row(status: str, message: str | None) -> dict:
        return {"run_id": run_id, "flow_run_id": flow_run_id, "started_at": started_at,
                "finished_at": datetime.now(UTC), "source": _where(source),
                "parameters": json.dumps(parameters, sort_keys=True),
                "counts": json.dumps(progress.counts(), sort_keys=True), "status": status,
                "message": message, "cleaner_version": cleaner, "model": model_str}

    def record_interrupted() -> None:
        name = signal.Signals(_STOP.signum or signal.SIGINT).name
        write_run(out_path, run_row("interrupted", f"interrupted ({name}) while blocked: the "
                                    "published batches stay, the next run publishes committed "
                                    "ones and processes the rest"))

    with output_lock(out_path), _signals_noted():
        try:
            recover(out_path)
            write_run(out_path, run_row("running", None))
            _STOP.record = record_interrupted
            seen = Published({}, set()) if reprocess else published_ids(out_path, cleaner,
                                                                        model_str)
            if seen.inputs:
                logger.info("%d documents and rejects already recorded with these versions will "
                            "be skipped", len(seen.inputs))
            this_run: dict[str, str] = {}

            def counted(paths: list[str]):
                for path in paths:
                    for item in read_sources([path], text_column, limits or Limits()):
                        _STOP.check()
                        yield item
                    progress.files_read += 1
                    progress.bytes_read += _size(path)
                    failpoint("read")

            def triage(items):
                """Skip what an earlier run recorded from the same source (a document or a
                reject: an unchanged rerun records nothing again); reject a second copy of a
                text."""
                for item in items:
                    if (item.doc_id, item.source) in seen.inputs:
                        progress.skipped += 1
                        continue
                    if isinstance(item, Document):
                        earlier = seen.documents.get(item.doc_id)
                        if earlier is not None and item.doc_id not in this_run and (
                                _file_of(earlier) == _file_of(item.source)):
                            # the same text, published from this file by an earlier run, on
                            # another line now (a line was added above it): the row moved, it
                            # is not a second copy of another row
                            progress.skipped += 1
                            progress.moved += 1
                            continue
                        first = this_run.get(item.doc_id) or earlier
                        if first is not None:
                            yield Reject(item.doc_id, item.source, "duplicate_text",
                                         f"same text as {first} (doc_id {item.doc_id[:12]}...)")
                            continue
                        this_run[item.doc_id] = item.source
                    yield item

            inflight: list[PrefectFuture] = []

            def publish_oldest() -> None:
                _STOP.check()
                staged: Staged = inflight.pop(0).result()
                publish_batch(staged, out)
                progress.add(staged)
                logger.info(progress.line())

            batches = chunk(triage(counted(sources)), batch_size, batch_chars)
            for index, (docs, rejects) in enumerate(batches):
                batch = Batch(run_id, index, incoming_table(docs))
                if rejects:
                    batch.add("rejects", rejects_table(rejects, run_id, cleaner, model_str))
                inflight.append(process_batch.submit(batch, config, model, cleaner, model_str, out,
                                                     entity_patterns))
                progress.batches_submitted += 1
                while len(inflight) > max_inflight:
                    publish_oldest()
            while inflight:
                publish_oldest()
            _STOP.check()
            counts = progress.counts()
            if progress.moved:
                logger.info("%d rows hold a text an earlier run published from another line of "
                            "the same file (lines were added above them): skipped, not rejected",
                            progress.moved)
            status = "completed_with_rejects" if counts["rejects"] else "completed"
            if not counts["documents"] and not counts["rejects"]:
                message = f"nothing new: {counts['skipped']} documents already published"
                logger.info(message)

            # --- entities people can use: the corpus index and this run's report. The tables
            # are published by now: a failure here is reported, it does not fail the run.
            try:
                if counts["documents"]:
                    write_entity_index(out_path)
                report = str(write_report(out_path, run_id, status, counts))
                logger.info("report: %s", report)
            except Exception as exc:
                logger.exception("the entity index or the report could not be written")
                message = f"tables published; index/report failed: {type(exc).__name__}: {exc}"
        except BaseException as exc:
            if _STOP.signum is not None or isinstance(exc, KeyboardInterrupt | TerminationSignal):
                status = "interrupted"
                name = signal.Signals(_STOP.signum or getattr(exc, "signal", signal.SIGINT)).name
                message = (f"interrupted ({name}): the published batches stay, the next run "
                           "publishes committed ones and processes the rest")
            else:
                message = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            _STOP.record = None
            counts = progress.counts()
            try:
                write_run(out_path, run_row(status, message))
            except OSError:
                logger.exception("could not record the run in %s/runs", out)
    return {"status": status, "message": message, "report": report, **counts}


@flow(name="preprocess", persist_result=False)
def preprocess(
    source: str = "data/raw",
    output: str = "output",
    model: str = DEFAULT_MODEL,
    batch_size: int = 256,
    batch_chars: int = 1_000_000,
    text_column: str = "text",
    rules: list[str] | None = None,
    exceptions: list[str] | None = None,
    glossary: str | None = None,
    reprocess: bool = False,
    workers: int = 0,
    runner: Literal["auto", "thread", "process", "dask"] = "auto",
    dask_address: str | None = None,
    entity_patterns: str | None = None,
    max_reject_fraction: float = 1.0,
    max_document_bytes: int = MAX_DOCUMENT_BYTES,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> dict:
    """Clean machine-translation artifacts, annotate entities, write Parquet tables.

    The run ends Completed (its message counts rejects), or Failed when more than
    ``max_reject_fraction`` of the input documents were rejected (the tables are published
    either way: the rejects are there to look at). A document over ``max_document_bytes`` or
    the rest of a file past ``max_file_bytes`` (uncompressed) is a ``too_large`` reject.
    """
    logger = get_run_logger()
    parameters = dict(source=source, output=output, model=model, batch_size=batch_size,
                      batch_chars=batch_chars, text_column=text_column, rules=rules,
                      exceptions=exceptions, glossary=glossary, reprocess=reprocess,
                      workers=workers, runner=runner, dask_address=dask_address,
                      entity_patterns=entity_patterns, max_reject_fraction=max_reject_fraction,
                      max_document_bytes=max_document_bytes, max_file_bytes=max_file_bytes)
    limits = Limits(max_document_bytes, max_file_bytes)
    if batch_size < 1 or batch_chars < 1 or workers < 0 or not 0 <= max_reject_fraction <= 1:
        raise ValueError("batch_size and batch_chars must be at least 1, workers at least 0, "
                         "max_reject_fraction between 0 and 1")
    config = CleanConfig.from_options(rules, exceptions, glossary)
    cleaner = cleaner_version(config)
    # read and checked once, here: its content goes to the workers with every batch
    patterns = read_entity_patterns(entity_patterns) if entity_patterns else None
    model_str = model_version(model, patterns)
    out = check_output(output)
    sources = find_sources(source, exclude=out)
    run_id = _new_run_id()
    ctx = get_run_context()
    flow_run_id = str(ctx.flow_run.id) if getattr(ctx, "flow_run", None) else None
    chosen = choose_runner(runner, sources, dask_address)
    n_workers = 1 if chosen == "thread" else workers or default_workers()
    logger.info("run %s: %d files under %s -> %s (cleaner %s, model %s, %s runner%s, %d workers)",
                run_id, len(sources), source, out, cleaner, model_str, chosen,
                " (auto)" if runner == "auto" else "", n_workers)
    task_runner = make_task_runner(chosen, n_workers, dask_address)
    with workers_share_this_api():
        counts = process_sources.with_options(task_runner=task_runner)(
            sources, source, str(out), config, cleaner, model, model_str, run_id, parameters,
            batch_size, batch_chars, text_column, reprocess, max(2, 2 * n_workers), flow_run_id,
            patterns, limits)
    status = counts.pop("status")
    counts.pop("message", None)
    report = counts.pop("report", None)
    summary = {"run_id": run_id, "status": status, "output": str(out), "report": report, **counts}
    create_markdown_artifact(markdown=_markdown(run_id, status, counts, str(out), report),
                             key="preprocess-summary", description=f"preprocess run {run_id}")
    message = (f"{counts['documents']} documents, {counts['rejects']} rejects, "
               f"{counts['skipped']} skipped, {counts['edits']} edits, "
               f"{counts['entities']} entities")
    logger.info("run %s %s: %s", run_id, status, message)
    inputs = counts["documents"] + counts["rejects"]
    if inputs and counts["rejects"] / inputs > max_reject_fraction:
        raise TooManyRejects(
            f"{counts['rejects']} of {inputs} input documents were rejected (more than "
            f"max_reject_fraction={max_reject_fraction}); the tables are published, see "
            f"rejects by reason: {counts['rejects_by_reason']}")
    if counts["rejects"]:
        logger.warning("%d input documents were rejected: %s", counts["rejects"],
                       counts["rejects_by_reason"])
    return Completed(message=message, data=summary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.preprocess", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="file, directory or glob of raw text")
    parser.add_argument("--output", default="output", help="folder of the Parquet tables")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="installed spaCy pipeline")
    parser.add_argument("--batch-size", type=int, default=256, help="documents per batch")
    parser.add_argument("--batch-chars", type=int, default=1_000_000, help="characters per batch")
    parser.add_argument("--text-column", default="text", help="text field of jsonl/csv/parquet")
    parser.add_argument("--rules", nargs="*", help="cleaning rules to run (default: all)")
    parser.add_argument("--exception", dest="exceptions", action="append",
                        help="a repetition duplicate_word keeps, e.g. 'Ding Ding' (repeatable)")
    parser.add_argument("--glossary", help="TSV file of variant<TAB>preferred spellings")
    parser.add_argument("--reprocess", action="store_true",
                        help="process documents even if already published with these versions")
    parser.add_argument("--workers", type=int, default=0,
                        help="worker processes (default: all cores)")
    parser.add_argument("--runner", choices=["auto", "thread", "process", "dask"], default="auto",
                        help="where batches run: this process (thread), a process pool, or Dask; "
                        "auto: this process for inputs under 2 MB, else the pool")
    parser.add_argument("--entity-patterns", help="JSONL of spaCy EntityRuler patterns whose "
                        "matches win over the model (see config/entity_patterns.example.jsonl)")
    parser.add_argument("--max-reject-fraction", type=float, default=1.0,
                        help="fail the run when more than this fraction of inputs is rejected")
    parser.add_argument("--max-document-bytes", type=int, default=MAX_DOCUMENT_BYTES,
                        help="a text file, JSONL line, CSV row or Parquet value larger than this "
                        "is rejected as too_large (default: 64 MiB)")
    parser.add_argument("--max-file-bytes", type=int, default=MAX_FILE_BYTES,
                        help="the rest of a file past this many (uncompressed) bytes is rejected "
                        "as too_large (default: 8 GiB)")
    parser.add_argument("--dask-address", help="scheduler of an existing Dask cluster "
                        "(tcp://host:8786); without it --runner dask starts a local cluster")
    args = parser.parse_args(argv)
    if args.dask_address:
        args.runner = "dask"
    logging.basicConfig(level=logging.INFO)
    _STOP.cli = True
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)
    server = local_server()
    settings = contextlib.nullcontext()
    if server:  # `make server` is up: the run skips the temporary server and shows in its UI
        from prefect.settings import PREFECT_API_URL, temporary_settings

        print(f"using the Prefect server at {server}", file=sys.stderr)
        settings = temporary_settings({PREFECT_API_URL: server})
    try:
        with settings:
            summary = preprocess(source=args.source, output=args.output, model=args.model,
                                 batch_size=args.batch_size, batch_chars=args.batch_chars,
                                 text_column=args.text_column, rules=args.rules,
                                 exceptions=args.exceptions, glossary=args.glossary,
                                 reprocess=args.reprocess, workers=args.workers, runner=args.runner,
                                 dask_address=args.dask_address, entity_patterns=args.entity_patterns,
                                 max_reject_fraction=args.max_reject_fraction,
                                 max_document_bytes=args.max_document_bytes,
                                 max_file_bytes=args.max_file_bytes)
    except (Interrupted, TerminationSignal, KeyboardInterrupt):
        _stop_now(128 + (_STOP.signum or signal.SIGINT))
    except Exception:
        if _STOP.signum is not None:  # a failure the interrupt caused (its API server died)
            _stop_now(128 + _STOP.signum)
        raise
    print(json.dumps({k: summary[k] for k in ("run_id", "status", "output", "documents",
                                              "rejects", "skipped", "edits", "flags",
                                              "entities", "report")}, indent=2))
    if _STOP.signum is not None:  # asked to stop as the run ended: its servers may be gone
        _stop_now(128 + _STOP.signum)
    return 0


if __name__ == "__main__":
    sys.exit(main())
