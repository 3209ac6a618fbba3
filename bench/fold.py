"""The entity index fold alone, step by step: time and peak memory of each step.

    .venv/bin/python -m bench.fold --base /work/growth/base-100x [--tries 2]

``--base`` is an output the growth benchmark wrote and built (``bench.growth --keep``). The
small run of the growth benchmark is published into a copy of it by the real flow (in-process
runner), then the copy's state is put back as it was before the run, so that the run's
documents are published and not yet folded: what the end of a nightly run folds. Each try
folds them into a fresh copy of that state (``update_entity_index``) in a process of its own,
so that none starts with another's memory, with its RSS sampled every 5 ms, and prints the
wall time and the peak RSS over the process's RSS at the start of each step (fold the
documents in, decide the region around the touched names, write the changed bucket files,
write the index) and of the whole fold.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench.growth import SMALL
from bench.run import REPO

STEPS = [("tasks.entities.index", "_fold_documents"), ("tasks.entities.index", "_changed_around"),
         ("store.state", "stage"), ("tasks.entities.index", "write_index")]


def rss_mb() -> int:
    return psutil.Process().memory_info().rss // 2**20


def _copy(base: Path, target: Path) -> None:
    """The tables hard-linked (never written by a fold), the state and the index copied."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(base, target, copy_function=os.link,
                    ignore=shutil.ignore_patterns("_index", "entity_index", "_built"))
    shutil.copytree(base / "_index", target / "_index")


def published_not_folded(base: Path, root: Path) -> Path:
    """A copy of ``base`` with the small run published by the flow and its state as before."""
    prepared = root / "prepared"
    _copy(base, prepared)
    source = root / "small"
    source.mkdir()
    (source / "nightly.txt").write_text(SMALL, encoding="utf-8")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    subprocess.run([sys.executable, "-m", "flows.preprocess", "--source", str(source),
                    "--output", str(prepared), "--runner", "thread"], cwd=REPO, env=env,
                   check=True, capture_output=True)
    shutil.rmtree(prepared / "_index")
    shutil.copytree(base / "_index", prepared / "_index")
    return prepared


class Sampler:
    """The process's peak RSS since the last ``mark``."""

    def __init__(self) -> None:
        self.peak = rss_mb()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.005)

    def mark(self) -> int:
        now = rss_mb()
        self.peak = now
        return now

    def close(self) -> None:
        self._stop = True
        self._thread.join()


def _instrument(sampler: Sampler, steps: dict) -> None:
    import importlib

    for module_name, name in STEPS:
        module = importlib.import_module(module_name)
        real = getattr(module, name)

        def timed(*args, __real=real, __name=name, **kwargs):
            start, outer = sampler.mark(), sampler.peak
            began = time.perf_counter()
            try:
                return __real(*args, **kwargs)
            finally:
                steps[__name] = {"seconds": round(time.perf_counter() - began, 3),
                                 "peak_over_start_mb": sampler.peak - start}
                sampler.peak = max(sampler.peak, outer)

        setattr(module, name, timed)


def fold_once(target: Path, base: Path) -> dict:
    """One fold into ``target``, in this process, each step instrumented."""
    from tasks.entities.index import update_entity_index

    steps: dict = {}
    sampler = Sampler()
    _instrument(sampler, steps)
    start = sampler.mark()
    began = time.perf_counter()
    done = update_entity_index(str(target))
    wall = time.perf_counter() - began
    sampler.close()
    return {"base": str(base), "seconds": round(wall, 3), "rss_at_start_mb": start,
            "peak_over_start_mb": sampler.peak - start, "steps": steps,
            "fold": {k: v for k, v in done.items() if k != "seconds"}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, type=Path)
    parser.add_argument("--tries", type=int, default=2)
    parser.add_argument("--fold-into", type=Path, help=argparse.SUPPRESS)  # one try's process
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    if args.fold_into:
        print(json.dumps(fold_once(args.fold_into, args.base)), flush=True)
        return
    root = Path(tempfile.mkdtemp(prefix="mtclean-fold-"))
    try:
        prepared = published_not_folded(args.base.resolve(), root)
        for _ in range(args.tries):
            target = root / "try"
            _copy(prepared, target)
            subprocess.run([sys.executable, "-m", "bench.fold", "--base", str(args.base),
                            "--fold-into", str(target)], cwd=REPO, check=True,
                           env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
