"""Growth benchmark: what one small run costs as the output it publishes into grows.

    .venv/bin/python -m bench.growth --scales 0 10 100 [--server] [--tries 2]

For each scale an output is written directly as tables (``bench.synthetic``: the real schemas,
a news-like distribution of names; scale 1 is the 12 MB bench corpus's 7,400 documents, in
nightly runs of ~2,500 documents written as a run writes them, one file per batch of 256), its
state is built by the full rebuild (``python -m tasks.entities.index --rebuild``, timed, with its
peak memory), and then the same small run (one new two-sentence document, the real flow in its
own process) publishes into it. Reported per scale: the run's wall time and peak memory (RSS
and PSS of its process tree), the end-of-run steps (entity index fold, report) as the flow
measured them, and the ratios to the run into an empty output (scale 0), measured in the same
invocation. With ``--server`` a Prefect server is started first (not timed), as a deployment
runs; without it each run starts Prefect's temporary server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.run import REPO, prefect_server, run_measured

DOCS_PER_SCALE = 7_400  # the 12 MB bench corpus
DOCS_PER_RUN = 2_500
SMALL = ("The Tarvo Grain Agency said on Monday that Odra Velnik would lead its delegation. "
         "Velnik told reporters in Kyiv that the talks would resume next week.\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", type=float, nargs="+", default=[0, 10, 100])
    parser.add_argument("--server", action="store_true")
    parser.add_argument("--tries", type=int, default=2)
    parser.add_argument("--rebuild-documents", type=int, default=20_000,
                        help="documents the rebuild folds at a time (its memory bound)")
    parser.add_argument("--keep", help="folder to write the outputs in (kept); default a temp")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from bench.synthetic import write_output

    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PYTHONPATH=str(REPO))
    root = Path(args.keep or tempfile.mkdtemp(prefix="mtclean-growth-"))
    root.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="mtclean-growth-home-"))
    env["PREFECT_HOME"] = str(home)
    small = root / "small"
    small.mkdir(exist_ok=True)
    (small / "nightly.txt").write_text(SMALL, encoding="utf-8")
    results = []
    server = prefect_server(home, env) if args.server else None
    try:
        if server is not None:
            env["PREFECT_API_URL"] = server.__enter__()
        for scale in args.scales:
            base = root / f"base-{scale:g}x"
            row: dict = {"scale": scale}
            if scale and not (base / "_built").exists():
                shutil.rmtree(base, ignore_errors=True)
                docs = int(DOCS_PER_SCALE * scale)
                row["written"] = write_output(base, docs, max(1, docs // DOCS_PER_RUN))
                out, wall, peak, _ = run_measured(
                    [sys.executable, "-m", "tasks.entities.index", "--output", str(base),
                     "--rebuild", "--max-documents", str(args.rebuild_documents)], env)
                row["rebuild"] = {"wall_s": round(wall, 1),
                                  "peak_rss_mb": round(peak["rss"] / 2**20),
                                  "peak_pss_mb": round(peak["pss"] / 2**20)}
                (base / "_built").write_text(json.dumps(row))
            elif scale:
                row.update(json.loads((base / "_built").read_text()))
            for attempt in range(args.tries):
                target = root / f"run-{scale:g}x-{attempt}"
                shutil.rmtree(target, ignore_errors=True)
                if scale:
                    shutil.copytree(base, target, ignore=shutil.ignore_patterns("_built"))
                else:
                    target.mkdir()
                out, wall, peak, _ = run_measured(
                    [sys.executable, "-m", "flows.preprocess", "--source", str(small),
                     "--output", str(target), "--runner", "thread"], env)
                summary = json.loads(out[out.index("{"):])
                assert summary["documents"] == 1, summary
                row.setdefault("runs", []).append({
                    "wall_s": round(wall, 2), "peak_rss_mb": round(peak["rss"] / 2**20),
                    "peak_pss_mb": round(peak["pss"] / 2**20),
                    "end_of_run_s": summary["end_of_run_seconds"]})
                shutil.rmtree(target, ignore_errors=True)
            results.append(row)
            print(json.dumps(row), flush=True)
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    empty = next((r for r in results if r["scale"] == 0), None)
    if empty:
        def best(r: dict, key: str) -> float:
            return min(x[key] for x in r["runs"])

        for r in results:
            r["ratio"] = {k: round(best(r, k) / best(empty, k), 3)
                          for k in ("wall_s", "peak_rss_mb", "peak_pss_mb")}
    print(json.dumps({"server": bool(args.server), "results": results}, indent=1))


if __name__ == "__main__":
    main()
