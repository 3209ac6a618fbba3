"""The same guarantees on an object store (no rename, no flock) as on a local disk: a full
run, a rerun, a run killed mid-publish and recovered, concurrent runs, and Dask workers that
share no folder with the flow, against a real S3-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

import boto3
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from flows.preprocess import preprocess
from schemas.tables import TABLES
from store import OutputNotWritable, check_output, current, read_table
from tests.conftest import S3_KEY, S3_SECRET
from tests.flows.test_crash import make_corpus, run_cli
from tests.support import by_doc, dask_cluster

pytestmark = pytest.mark.usefixtures("prefect_harness")

VOLATILE = {"run_id", "processed_at", "rejected_at"}


def rows(output: str | Path, name: str) -> list[dict]:
    return read_table(output, name).to_pylist()


def objects(output: str) -> dict[str, bytes]:
    bucket, _, prefix = output.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3")
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return found


def assert_consistent(output: str, expected_sources: list[str]) -> None:
    """Every input exactly once in documents or rejects, no child row without its document,
    nothing left aside, the lease released."""
    docs, rejects = rows(output, "documents"), rows(output, "rejects")
    seen = Counter(r["source"] for r in docs + rejects)
    assert set(seen) == set(expected_sources)
    assert max(seen.values()) == 1, [s for s, c in seen.items() if c > 1][:5]
    published = {(d["doc_id"], d["run_id"]) for d in docs}
    for child in ("edits", "flags", "sentences", "entities"):
        orphans = [r for r in rows(output, child) if (r["doc_id"], r["run_id"]) not in published]
        assert not orphans, f"{child} rows without a published document: {orphans[:2]}"
    keys = [k for k in objects(output) if not k.endswith("/")]  # not pyarrow's folder markers
    assert not [k for k in keys if "/_staging/" in k], keys
    assert not [k for k in keys if k.endswith("_lease.json")]


def assert_counts_match(output: str) -> None:
    for name in ("documents", "rejects"):
        published = Counter(r["run_id"] for r in rows(output, name))
        claimed = {r["run_id"]: json.loads(r["counts"])[name] for r in rows(output, "runs")}
        assert claimed == {run_id: published[run_id] for run_id in claimed}, name


def snapshot(output: str | Path) -> dict[str, list[str]]:
    result = {}
    for name in ("documents", "edits", "flags", "sentences", "entities", "rejects"):
        table = read_table(output, name)
        table = table.drop_columns([c for c in table.column_names if c in VOLATILE])
        result[name] = sorted(repr(sorted(r.items())) for r in table.to_pylist())
    return result


def test_a_run_and_a_rerun_on_s3(s3_output, sample_dir, caplog) -> None:
    first = preprocess(source=str(sample_dir), output=s3_output, batch_size=4)
    assert first["documents"] == 20 and first["output"] == s3_output
    assert not Path("s3:").exists()  # it used to write to a local folder named "s3:"
    assert first["report"] == f"{s3_output}/reports/{first['run_id']}.html"
    again = preprocess(source=str(sample_dir), output=s3_output, batch_size=4)
    assert again["documents"] == 0 and again["skipped"] == 20
    sources = [r["source"] for r in rows(s3_output, "documents") + rows(s3_output, "rejects")]
    assert_consistent(s3_output, sources)
    assert_counts_match(s3_output)
    # every table of the contract is there and readable, after the rerun that wrote no rows too
    fs, root = pafs.FileSystem.from_uri(s3_output)
    for name, schema in TABLES.items():
        dataset = ds.dataset(f"{root}/{name}", filesystem=fs, format="parquet",
                             partitioning="hive")
        assert set(dataset.schema.names) == set(schema.names), name
    keys = objects(s3_output)
    assert any(k.endswith(f"flags/run_id={again['run_id']}/part-empty.parquet") for k in keys)
    assert current(s3_output).num_rows == 20
    # the endpoint's credentials are nowhere: not in a table, a report, a log line
    for key, body in keys.items():
        assert S3_SECRET.encode() not in body and S3_KEY.encode() not in body, key
    assert S3_SECRET not in caplog.text and S3_KEY not in caplog.text
    [run] = [r for r in rows(s3_output, "runs") if r["run_id"] == first["run_id"]]
    assert json.loads(run["parameters"])["output"] == s3_output


def test_an_s3_output_with_credentials_in_its_name_or_no_bucket_is_refused(s3_server) -> None:
    with pytest.raises(OutputNotWritable, match="AWS_\\* environment variables"):
        check_output("s3://key:secret@bucket/out")
    with pytest.raises(OutputNotWritable, match="does not exist"):
        check_output("s3://no-such-bucket-mtclean/out")


def test_killed_runs_on_s3_are_recovered_by_the_next(s3_output, tmp_path, monkeypatch) -> None:
    """No rename, no flock: a run killed after writing aside, one killed half-way through
    publishing (its lease left behind), then a run that takes the expired lease over."""
    monkeypatch.setenv("MTCLEAN_LEASE_SECONDS", "3")
    src = tmp_path / "in"
    sources = make_corpus(src, n_files=10, per_file=30)  # 300 documents, 3 batches
    for point in ("stage:2", "publish:3"):
        proc = run_cli(src, s3_output, "--runner", "thread", failpoint=point)
        assert proc.returncode == -signal.SIGKILL, (point, proc.stderr.read()[-2000:])
        assert any(k.endswith("_lease.json") for k in objects(s3_output))  # left by the dead
    partial = rows(s3_output, "documents")
    assert len(partial) < 300
    proc = run_cli(src, s3_output, "--runner", "thread")
    err = proc.stderr.read()
    assert proc.returncode == 0, err[-3000:]
    assert "took over the expired lease" in err
    assert_consistent(s3_output, sources)
    assert_counts_match(s3_output)
    statuses = Counter(r["status"] for r in rows(s3_output, "runs"))
    assert statuses == {"completed": 1, "interrupted": 2}, statuses


def test_concurrent_runs_on_s3_equal_sequential_runs_on_disk(s3_output, tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    sources_a = make_corpus(a, n_files=2, per_file=50)
    b.mkdir()
    for f in a.iterdir():  # b overlaps a: the same texts under other paths, plus more
        (b / f.name).write_bytes(f.read_bytes())
    sources_b = [s.replace(str(a), str(b)) for s in sources_a]
    sources_b += make_corpus(b, n_files=1, per_file=50, start=2)
    procs = [run_cli(a, s3_output, "--runner", "process", "--workers", "1", wait=False),
             run_cli(b, s3_output, "--runner", "thread", wait=False)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()[-3000:]
    on_disk = tmp_path / "sequential"
    preprocess(source=str(a), output=str(on_disk), batch_size=100)
    preprocess(source=str(b), output=str(on_disk), batch_size=100)

    for name in ("documents", "entities", "edits", "rejects"):
        assert by_doc(rows(s3_output, name), name) == by_doc(rows(on_disk, name), name), name
    assert len(rows(s3_output, "documents")) == 150
    assert Counter(r["reason"] for r in rows(s3_output, "rejects")) == {"duplicate_text": 100}
    assert_consistent(s3_output, sources_a + sources_b)


def test_dask_workers_in_their_own_processes_and_folders_write_to_s3(
        s3_output, tmp_path, sample_dir) -> None:
    """A scheduler and two workers started as separate processes, each in a folder of its own:
    nothing passes through a shared disk, the batches go to the object store."""
    with dask_cluster([tmp_path / "worker-0", tmp_path / "worker-1"]) as address:
        summary = preprocess(source=str(sample_dir), output=s3_output, runner="dask",
                             dask_address=address, batch_size=4)
    assert summary["documents"] == 20 and summary["batches"] >= 4
    for i in range(2):  # the workers wrote nothing to their own folders
        assert not list((tmp_path / f"worker-{i}").rglob("*.parquet"))
    on_disk = tmp_path / "thread"
    preprocess(source=str(sample_dir), output=str(on_disk), runner="thread", batch_size=4)
    assert snapshot(s3_output) == snapshot(on_disk)
    sources = [r["source"] for r in rows(on_disk, "documents") + rows(on_disk, "rejects")]
    assert_consistent(s3_output, sources)
