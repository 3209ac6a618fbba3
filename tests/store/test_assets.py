"""The tables are Prefect assets: every published batch records which tables it wrote."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from prefect import get_client

from flows.preprocess import preprocess
from store import read_table

pytestmark = pytest.mark.usefixtures("prefect_harness")


def materializations(prefix: str, run_id: str, expected: int, timeout: float = 30) -> list[dict]:
    """The asset materialization events of one run, of assets under ``prefix`` (events arrive
    asynchronously)."""
    deadline = time.time() + timeout
    while True:
        with get_client(sync_client=True) as client:
            events = client.request("POST", "/events/filter", json={
                "filter": {"event": {"name": ["prefect.asset.materialization.succeeded"]},
                           "resource": {"id_prefix": [prefix]}},
                "limit": 50}).json()["events"]
        ours = [e for e in events if e.get("payload", {}).get("run_id") == run_id]
        if len(ours) >= expected or time.time() > deadline:
            return ours
        time.sleep(0.5)


def test_each_published_batch_materializes_the_tables_it_wrote(tmp_path, sample_dir) -> None:
    out = tmp_path / "out"
    summary = preprocess(source=str(sample_dir / "articles"), output=str(out), runner="thread",
                         batch_size=3)
    assert summary["batches"] == 2
    written = [t for t in ("documents", "edits", "flags", "sentences", "entities", "sightings")
               if summary[t]]
    events = materializations(f"file://{out}/", summary["run_id"], 2 * len(written))
    rows: Counter[str] = Counter()
    for event in events:
        key = event["resource"]["prefect.resource.id"]
        assert key.startswith(f"file://{out}/"), key
        rows[key.rsplit("/", 1)[1]] += event["payload"]["rows"]
        roles = {r["prefect.resource.role"] for r in event["related"]}
        assert {"flow-run", "task-run"} <= roles
    # the rows each table's materializations report are the rows published under the run
    assert rows == {t: read_table(out, t).num_rows for t in written}
