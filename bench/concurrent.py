"""Two runs on different sources into one output at once, against one run over both sources.

    .venv/bin/python -m bench.concurrent --mb 4 --server [--workers 2]

The bench corpus (``bench.run.build_corpus``, ``--mb`` of distinct documents, files of 500) is
dealt into two sources, a file to each in turn. In one invocation, against the same Prefect
server: one run over both sources (a folder holding the two), then two runs started at the
same moment, one per source, into one new output. Reported: the wall time of the single run, of each concurrent run and of
the pair (first start to last end), the pair's over the single run's, and each output's
document count (every document once, in both cases). Runs into one output take turns on the
output's lock for the whole run (store/lock.py): the second run does its start-up (Prefect,
settings, finding its files) while the first holds the lock, then waits for it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.run import REPO, build_corpus, prefect_server


def _count(output: Path) -> int:
    import pyarrow.dataset as ds

    return ds.dataset(output / "documents", format="parquet", partitioning="hive").count_rows()


def _start(source: Path, output: Path, workers: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flows.preprocess", "--source", str(source), "--output",
         str(output), "--workers", str(workers)],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, started: float) -> tuple[float, dict]:
    out, err = proc.communicate()
    ended = time.perf_counter()
    if proc.returncode:
        raise SystemExit(f"a run failed:\n{err[-3000:]}")
    return ended - started, json.loads(out[out.index("{"):])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=2, help="each run's --workers")
    parser.add_argument("--server", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mtclean-concurrent-"))
    home = Path(tempfile.mkdtemp(prefix="mtclean-concurrent-home-"))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONPATH=str(REPO),
               PREFECT_HOME=str(home))
    _, size = build_corpus(root / "corpus", args.mb)
    files = sorted((root / "corpus" / "corpus").glob("*.jsonl"))
    both = root / "both"
    halves = [both / "a", both / "b"]
    for i, half in enumerate(halves):
        half.mkdir(parents=True)
        for f in files[i::2]:
            shutil.move(str(f), half / f.name)
    server = prefect_server(home, env) if args.server else None
    try:
        if server is not None:
            env["PREFECT_API_URL"] = server.__enter__()
        started = time.perf_counter()
        one_wall, one = _finish(_start(both, root / "out-one", args.workers, env), started)
        started = time.perf_counter()
        procs = [_start(half, root / "out-two", args.workers, env) for half in halves]
        with ThreadPoolExecutor(len(procs)) as pool:  # each run's end as it comes
            walls = [w for w, _ in pool.map(lambda p: _finish(p, started), procs)]
        pair = max(walls)
        result = {
            "corpus_bytes": size, "workers": args.workers, "server": bool(args.server),
            "one_run": {"wall_s": round(one_wall, 2), "documents": _count(root / "out-one")},
            "two_runs": {"wall_s": [round(w, 2) for w in walls], "pair_wall_s": round(pair, 2),
                         "documents": _count(root / "out-two")},
            "pair_over_one": round(pair / one_wall, 3),
            "documents_in_one_run": one["documents"]}
        print(json.dumps(result, indent=1))
    finally:
        if server is not None:
            server.__exit__(None, None, None)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
