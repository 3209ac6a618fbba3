"""prefect.yaml end to end: server, work pool, `prefect deploy --all`, worker, CLI runs, schedules.

The slow server test (issue "Run it the way Prefect users run things"). It starts everything
itself on 127.0.0.1 with a free port and a temporary PREFECT_HOME, drives Prefect only through
its CLI (plus the REST API to look at the result), and kills every process group it started in
the fixture teardown, also when a test fails. Skip it with `pytest -m "not slow"`.

PROJECT_DIR (read by prefect.yaml's pull step at deploy time) points at a sandbox: a temporary
folder whose entries link to this repository's code, with its own data/raw (3 small texts) and
output/. Runs that use the deployments' default, relative parameters (the interval schedule,
the nightly cron should it ever fire during the test) therefore read and write the sandbox,
never the repository's data/ and output/, and they prove the worker really changed into
PROJECT_DIR. The ad-hoc runs pass absolute paths.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.dataset as ds
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PREFECT = str(BIN / "prefect")
# Background jobs of a non-interactive shell inherit an ignored SIGINT, and `prefect worker`
# turns SIGTERM into SIGINT: start every server process with SIGINT back to its default.
SIGINT_DEFAULT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                  "os.execv(sys.argv[1], sys.argv[1:])")
NOT_LINKED = {"data", "output", ".git", ".venv", ".pytest_cache", ".ruff_cache", ".hypothesis"}
TEXTS = {
    "madrid.txt": "MADRID, June 2 (Newswire) - Madrid issued a heat alert on Tuesday after "
                  "temperatures reached 42 degrees, officials said.\n",
    "kyiv.txt": "KYIV, March 3 (Newswire) - Ukraine agreed with Poland on Tuesday to expand "
                "cross-border electricity trading, the energy ministry said.\n",
    "frankfurt.txt": "FRANKFURT, May 9 (Newswire) - The European Central Bank kept interest "
                     "rates unchanged on Thursday, its president told reporters.\n",
}
WATCH = ("--watch", "--watch-timeout", "240")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_texts(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in TEXTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def table_rows(out: Path, table: str) -> list[dict]:
    if not (out / table).is_dir():
        return []
    return ds.dataset(out / table, format="parquet", partitioning="hive").to_table().to_pylist()


@dataclass
class Stack:
    root: Path
    project: Path
    env: dict[str, str]
    api: str = ""
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    # -- processes -------------------------------------------------------------------------
    def start(self, name: str, *args: str, cwd: Path | None = None) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-c", SIGINT_DEFAULT, PREFECT, *args],
                                cwd=cwd or self.root, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def stop(self, name: str, grace: float = 20) -> int | None:
        """SIGTERM the process group (the process and its flow runs), SIGKILL if it lingers."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return None
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                # the group may outlive its leader (a flow run mid-way): make sure it is gone
                os.killpg(proc.pid, 0)
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        else:
            proc.wait(10)
        return proc.returncode

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)

    def log(self, name: str, tail: int = 4000) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"----- {p.stem} -----\n{self.log(p.stem)}"
                         for p in sorted(self.root.glob("*.log")))

    # -- the CLI and the API ---------------------------------------------------------------
    def cli(self, *args: str, cwd: Path | None = None, timeout: float = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([PREFECT, *args], cwd=cwd or self.root, env=env or self.env,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def ok(self, *args: str, **kwargs) -> str:
        result = self.cli(*args, **kwargs)
        assert result.returncode == 0, (f"prefect {' '.join(args)} -> {result.returncode}\n"
                                        f"{result.stdout}\n{result.stderr}\n{self.logs()}")
        return result.stdout

    def get(self, path: str, body: dict | None = None):
        """The API's answer; a busy server's 503 (its database locked by the runs the test
        started) is retried as Prefect's own client retries it (429, 502, 503, with backoff)."""
        for attempt in range(6):
            request = urllib.request.Request(
                self.api + path, method="GET" if body is None else "POST",
                data=None if body is None else json.dumps(body).encode(),
                headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return json.load(response)
            except urllib.error.HTTPError as exc:
                if exc.code not in (429, 502, 503) or attempt == 5:
                    raise
                time.sleep(2 ** attempt)

    def deployment(self, name: str) -> dict:
        return self.get(f"/deployments/name/preprocess/{name}")

    def flow_runs(self, deployment_id: str | None = None) -> list[dict]:
        body: dict = {"limit": 200}
        if deployment_id:
            body["flow_runs"] = {"deployment_id": {"any_": [deployment_id]}}
        return self.get("/flow_runs/filter", body)


def wait_healthy(stack: Stack, proc: subprocess.Popen, timeout: float = 150) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if stack.get("/health") is True:
                return True
        except (OSError, ValueError):
            pass
        time.sleep(1)
    return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("prefect-deployments")
    project = root / "project"
    project.mkdir()
    for entry in REPO.iterdir():
        if entry.name not in NOT_LINKED and not entry.name.endswith(".egg-info"):
            (project / entry.name).symlink_to(entry)
    write_texts(project / "data" / "raw")
    (project / "output").mkdir()

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(root / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        # a new schedule gets its runs at the scheduler's next pass (every 60 s by default)
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="5",
        PREFECT_WORKER_QUERY_SECONDS="2",
        PREFECT_WORKER_PREFETCH_SECONDS="5",
        PREFECT_RUNNER_POLL_FREQUENCY="2",
        PREFECT_CLI_COLORS="false",
        PREFECT_CLI_WRAP_LINES="false",
        COLUMNS="200",
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        PROJECT_DIR=str(project),
    )
    stack = Stack(root=root, project=project, env=env)
    try:
        for _ in range(3):  # a free port can be taken between bind() and the server
            port = free_port()
            stack.api = f"http://127.0.0.1:{port}/api"
            env["PREFECT_API_URL"] = stack.api
            server = stack.start("server", "server", "start", "--host", "127.0.0.1",
                                 "--port", str(port), "--no-ui", cwd=root)
            if wait_healthy(stack, server):
                break
            stack.stop("server")
        else:
            pytest.fail(f"prefect server did not become healthy\n{stack.logs()}")

        stack.ok("work-pool", "create", "process", "--type", "process")
        stack.ok("--no-prompt", "deploy", "--all", cwd=REPO)
        # the worker runs somewhere else: only the pull step brings it to PROJECT_DIR
        stack.start("worker", "worker", "start", "--pool", "process", cwd=root)
        yield stack
    finally:
        stack.stop_all()


def test_deploy_all_registers_nightly_and_adhoc(stack):
    nightly = stack.deployment("nightly")
    out = stack.ok("deployment", "inspect", "preprocess/nightly")
    assert "'cron': '0 2 * * *'" in out and "'timezone': 'UTC'" in out, out
    [schedule] = nightly["schedules"]
    assert schedule["schedule"]["cron"] == "0 2 * * *"
    assert schedule["schedule"]["timezone"] == "UTC" and schedule["active"]
    assert nightly["parameters"] == {"source": "data/raw", "output": "output"}
    assert nightly["entrypoint"] == "flows/preprocess.py:preprocess"
    assert nightly["work_pool_name"] == "process"

    adhoc = stack.deployment("adhoc")
    assert adhoc["schedules"] == [] and adhoc["parameters"] == {}
    assert adhoc["work_pool_name"] == "process"
    for deployment in (nightly, adhoc):
        # {{ $PROJECT_DIR }} was filled in at deploy time; no build or push steps
        assert deployment["pull_steps"] == [{
            "prefect.deployments.steps.set_working_directory": {
                "directory": str(stack.project)}}]
    assert adhoc["parameter_openapi_schema"]["properties"]["batch_size"]["type"] == "integer"


def test_adhoc_run_then_rerun_skips(stack):
    source = write_texts(stack.root / "in")
    out = stack.root / "out"
    args = ("deployment", "run", "preprocess/adhoc", "-p", f"source={source}",
            "-p", f"output={out}", *WATCH)

    first = stack.ok(*args)
    assert "Completed" in first
    assert len(table_rows(out, "documents")) == 3
    [run] = table_rows(out, "runs")
    assert json.loads(run["counts"])["documents"] == 3

    stack.ok(*args)
    assert len(table_rows(out, "documents")) == 3
    runs = sorted(table_rows(out, "runs"), key=lambda r: r["started_at"])
    assert len(runs) == 2
    counts = json.loads(runs[-1]["counts"])
    assert counts["skipped"] == 3 and counts["documents"] == 0, counts
    assert "nothing new" in (runs[-1]["message"] or "")


@pytest.mark.parametrize("param, field_name", [("batch_size=notanumber", "batch_size"),
                                               ("reprocess=maybe", "reprocess"),
                                               ("batch_sise=3", "batch_sise")])
def test_bad_parameter_is_refused_before_a_run_exists(stack, param, field_name):
    adhoc = stack.deployment("adhoc")
    before = len(stack.flow_runs(adhoc["id"]))
    result = stack.cli("deployment", "run", "preprocess/adhoc", "-p", param)
    said = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, said
    assert f"'{field_name}'" in said, said
    assert len(stack.flow_runs(adhoc["id"])) == before


def test_interval_schedule_runs_then_pause_and_delete(stack):
    adhoc = stack.deployment("adhoc")
    stack.ok("deployment", "schedule", "create", "preprocess/adhoc", "--interval", "10")
    [schedule] = json.loads(stack.ok("deployment", "schedule", "ls", "preprocess/adhoc",
                                     "-o", "json"))
    try:
        deadline = time.monotonic() + 150
        done = []
        while not done and time.monotonic() < deadline:
            runs = [r for r in stack.flow_runs(adhoc["id"]) if r["auto_scheduled"]]
            failed = [r for r in runs if r["state_type"] in ("FAILED", "CRASHED")]
            assert not failed, f"{failed[0]['name']} {failed[0]['state_type']}\n{stack.logs()}"
            done = [r for r in runs if r["state_type"] == "COMPLETED"]
            time.sleep(2)
        assert done, f"no scheduled run completed in 150 s\n{stack.logs()}"
    finally:
        stack.ok("deployment", "schedule", "pause", "preprocess/adhoc", schedule["id"])
    [paused] = json.loads(stack.ok("deployment", "schedule", "ls", "preprocess/adhoc",
                                   "-o", "json"))
    assert paused["active"] is False
    stack.ok("deployment", "schedule", "delete", "preprocess/adhoc", schedule["id"], "-y")
    assert stack.deployment("adhoc")["schedules"] == []
    for _ in range(10):  # a scheduler pass that began before the pause may still be landing
        left = [r for r in stack.flow_runs(adhoc["id"]) if r["state_type"] == "SCHEDULED"]
        if not left:
            break
        time.sleep(1)
    assert left == [], "pausing the schedule should remove its future runs"

    # default parameters data/raw and output resolved against PROJECT_DIR (the sandbox)
    assert done[0]["parameters"] == {}
    assert len(table_rows(stack.project / "output", "documents")) == 3
    assert not (stack.root / "output").exists()


def test_flow_serve_with_cron(stack):
    """The no-worker alternative: `prefect flow serve` creates the deployment and runs it."""
    stack.start("serve", "flow", "serve", "flows/preprocess.py:preprocess", "--name", "served",
                "--cron", "0 2 * * *", "--timezone", "UTC", cwd=stack.project)
    deadline = time.monotonic() + 120
    served = None
    while served is None and time.monotonic() < deadline:
        assert stack.procs["serve"].poll() is None, stack.log("serve")
        try:
            served = stack.deployment("served")
        except urllib.error.HTTPError:
            time.sleep(1)
    assert served, stack.log("serve")
    [schedule] = served["schedules"]
    assert schedule["schedule"]["cron"] == "0 2 * * *" and served["work_pool_name"] is None

    source = write_texts(stack.root / "in-serve")
    out = stack.root / "out-serve"
    stack.ok("deployment", "run", "preprocess/served", "-p", f"source={source}",
             "-p", f"output={out}", *WATCH)
    assert len(table_rows(out, "documents")) == 3

    stack.stop("serve")  # SIGTERM: the runner pauses its deployment on the way out
    assert "paused" in stack.log("serve").lower()
    assert stack.deployment("served")["paused"] is True


def test_cli_uses_a_running_local_server(stack, tmp_path):
    """Issue 11: with a server up (`make server`), the CLI skips Prefect's temporary server and
    its run is in the server's history."""
    env = {k: v for k, v in stack.env.items() if k != "PREFECT_API_URL"}
    env["MTCLEAN_PREFECT_SERVER"] = stack.api
    env.pop("MTCLEAN_NO_LOCAL_SERVER", None)
    before = {r["id"] for r in stack.flow_runs()}
    done = subprocess.run([sys.executable, "-m", "flows.preprocess", "--source",
                           str(write_texts(tmp_path / "in")), "--output", str(tmp_path / "out")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert f"using the Prefect server at {stack.api}" in log
    assert "Starting temporary server" not in log
    ours = [r for r in stack.flow_runs() if r["id"] not in before and not r["deployment_id"]]
    assert {r["state_type"] for r in ours} == {"COMPLETED"} and len(ours) >= 1
    assert len(table_rows(tmp_path / "out", "documents")) == len(TEXTS)


def flow_run_process(runner: subprocess.Popen):
    """The process running the flow run that ``runner`` (a worker or `prefect flow serve`)
    started: `python -m prefect.engine` (a worker's, in a session of its own) or a spawned
    process (serve's, in serve's session), or None."""
    import psutil

    for child in psutil.Process(runner.pid).children(recursive=True):
        try:
            line = " ".join(child.cmdline())
            if "prefect.engine" in line or (child.ppid() == runner.pid and "spawn_main" in line):
                return child
        except psutil.Error:
            continue
    return None


def alive(processes) -> list[str]:
    """Command lines of those processes still running (zombies do not count)."""
    import psutil

    left = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(" ".join(proc.cmdline()))
        except psutil.Error:
            continue
    return left


@pytest.mark.parametrize("runner", ["worker", "serve"])
def test_cancelling_a_deployment_run_stops_it_and_records_it_interrupted(stack, runner):
    """Issue 24: `prefect flow-run cancel` (as the UI's Cancel) on a deployment's run mid-way,
    run by the work pool's worker or by `prefect flow serve`.

    Prefect's runner sends SIGTERM to the flow run's process (a worker's: to its process group),
    polls every 3 s, SIGKILLs it after 30 s and then ends the flow run Cancelled. The run must
    end Cancelled, its `runs` row `interrupted`, its processes (flow run, pool worker, resource
    tracker, watchdog) gone within 10 s of the cancel on a busy 2-core machine, and the next
    run must publish every document exactly once."""
    import psutil

    from tests.flows.test_crash import make_corpus

    if runner == "serve":
        stack.start("serve-cancel", "flow", "serve", "flows/preprocess.py:preprocess",
                    "--name", "served-cancel", cwd=stack.project)
        deployment, name = None, "preprocess/served-cancel"
        deadline = time.monotonic() + 120
        while deployment is None and time.monotonic() < deadline:
            assert stack.procs["serve-cancel"].poll() is None, stack.log("serve-cancel")
            try:
                deployment = stack.deployment("served-cancel")
            except urllib.error.HTTPError:
                time.sleep(1)
        assert deployment, stack.log("serve-cancel")
    else:
        deployment, name = stack.deployment("adhoc"), "preprocess/adhoc"
    proc = stack.procs["serve-cancel" if runner == "serve" else "worker"]
    try:
        src, out = stack.root / f"in-cancel-{runner}", stack.root / f"out-cancel-{runner}"
        sources = make_corpus(src, n_files=20, per_file=100)  # 2,000 documents, 20 batches
        params = {"source": str(src), "output": str(out), "batch_size": 100,
                  "runner": "process", "workers": 1}
        flow_run = stack.get(f"/deployments/{deployment['id']}/create_flow_run",
                             {"parameters": params})
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not any((out / "documents").glob("*/*.parquet")):
            state = stack.get(f"/flow_runs/{flow_run['id']}")["state_type"]
            assert state in ("SCHEDULED", "PENDING", "RUNNING"), f"{state}\n{stack.logs()}"
            time.sleep(0.2)
        assert any((out / "documents").glob("*/*.parquet")), f"no batch in 240 s\n{stack.logs()}"
        flow_proc = flow_run_process(proc)
        assert flow_proc is not None
        ours = [flow_proc, *flow_proc.children(recursive=True)]
        assert len(alive(ours)) >= 3, alive(ours)  # the flow run, its pool worker, ...

        asked = time.monotonic()
        stack.ok("flow-run", "cancel", flow_run["id"])
        cancelled = time.monotonic()  # the run is Cancelling from here
        gone = reaped = state_at = None
        state = ""
        while time.monotonic() < cancelled + 60 and (reaped is None or state_at is None):
            if gone is None and not alive(ours):
                gone = time.monotonic()
            if reaped is None and not any(p.is_running() for p in ours):  # zombies too
                reaped = time.monotonic()
            if state_at is None:
                state = stack.get(f"/flow_runs/{flow_run['id']}")["state_type"]
                if state == "CANCELLED":
                    state_at = time.monotonic()
            time.sleep(0.1)
        left = alive(ours)
        for leftover in ours:  # not left for the tests after this one
            with contextlib.suppress(psutil.Error):
                leftover.kill()

        def after(at: float | None) -> str:
            return "never" if at is None else f"{at - cancelled:.1f} s"

        print(f"{runner}: cancel CLI {cancelled - asked:.1f} s; processes gone {after(gone)} "
              f"(reaped {after(reaped)}), {state} {after(state_at)} after it")
        assert state == "CANCELLED", stack.log("serve-cancel" if runner == "serve" else runner)
        assert left == [], left
        assert gone - cancelled < 10, gone - cancelled
        [run] = table_rows(out, "runs")
        assert run["status"] == "interrupted", (run["status"], run["message"])
        assert run["message"].startswith("interrupted (SIGTERM)"), run["message"]
        assert run["flow_run_id"] == flow_run["id"]
        published = table_rows(out, "documents")
        assert 0 < len(published) < len(sources)

        stack.ok("deployment", "run", name,
                 *(arg for k, v in params.items() for arg in ("-p", f"{k}={v}")), *WATCH)
        docs = table_rows(out, "documents")
        assert len(docs) == len(sources)
        assert len({d["doc_id"] for d in docs}) == len(sources)
        assert {d["source"] for d in docs} == set(sources)
        statuses = sorted(r["status"] for r in table_rows(out, "runs"))
        assert statuses == ["completed", "interrupted"], statuses
    finally:
        if runner == "serve":
            stack.stop("serve-cancel")
