"""The command line: ``mtclean --source ... --output ...`` (or ``python -m flows.preprocess``).

Checks the settings before anything starts (one line per bad one), then runs the flow against
the server ``PREFECT_API_URL`` names, else ``make server``'s if it is up, else a temporary server
of its own (flows/server.py) that boots while the model loads; prints the run's summary as
JSON. Ctrl-C and SIGTERM stop it within seconds (flows/signals.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import signal
import sys
from pathlib import Path

from prefect.exceptions import TerminationSignal
from pydantic import ValidationError

import flows.preprocess as flow_module
from flows.preprocess import preprocess
from flows.runners import choose_runner
from flows.server import (
    ConfiguredServerDown,
    TemporaryServerTimeout,
    configured_server,
    local_server,
    prefect_starts_no_server,
    temporary_server,
)
from flows.settings import RunSettings, command_line
from flows.signals import STOP, Interrupted, install_handlers, stop_now
from flows.watchdog import processes_die_with_this_one
from tasks.annotate import load_pipeline, read_entity_patterns
from tasks.ingest import find_sources


def _run_starting_the_server(server: str | None, values: dict) -> dict:
    """The flow run, against ``server`` or a temporary server of its own (flows/server.py),
    which boots while this process loads what the run will need."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if server:  # PREFECT_API_URL's own (set again, unchanged) or `make server`'s (set here)
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
    parser = command_line(RunSettings, prog, flow_module.__doc__)
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
