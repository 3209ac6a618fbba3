from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from schemas.tables import DOCUMENTS_V1, EDITS_V2
from store import (
    READY,
    STAGING,
    OutputNotWritable,
    Published,
    check_output,
    publish_staged,
    published_ids,
    recover,
    stage_batch,
    write_run,
)
from store.read import run_folders
from tasks.batch import Batch, incoming_table


def _batch(run_id: str = "r1", index: int = 0, n: int = 2) -> Batch:
    batch = Batch(run_id, index, incoming_table([]))
    now = pa.scalar(0, pa.int64())
    docs = [{f.name: None for f in DOCUMENTS_V1} for _ in range(n)]
    for i, d in enumerate(docs):
        d.update(doc_id=f"d{index}-{i}", source=f"s{i}", raw_text="a  b", clean_text="a b",
                 encoding="utf-8", encoding_detected=False, n_edits=1, n_flags=0,
                 n_sentences=1, n_entities=0, cleaner_version="c", model="m", run_id=run_id,
                 processed_at=now.as_py())
    batch.tables["documents"] = pa.Table.from_pylist(docs, schema=DOCUMENTS_V1)
    batch.tables["edits"] = pa.Table.from_pylist(
        [{"doc_id": d["doc_id"], "edit_index": 0, "rule": "whitespace", "raw_start": 1,
          "raw_end": 2, "clean_start": 1, "clean_end": 1, "before": " ", "after": "", "reason": "",
          "run_id": run_id} for d in docs], schema=EDITS_V2)
    return batch


def _rows(out: Path, table: str) -> int:
    if not (out / table).exists():
        return 0
    return ds.dataset(out / table, format="parquet", partitioning="hive").count_rows()


def test_staged_files_are_invisible_until_published(tmp_path) -> None:
    staged = stage_batch(_batch(), tmp_path)
    assert (Path(staged.directory) / READY).exists()
    assert _rows(tmp_path, "documents") == 0  # readers see nothing yet
    publish_staged(tmp_path, staged.run_id, staged.key, Path(staged.directory))
    assert _rows(tmp_path, "documents") == 2 and _rows(tmp_path, "edits") == 2
    assert not Path(staged.directory).exists()
    assert staged.counts["edits"] == {"whitespace": 2}


def test_recover_rolls_committed_batches_forward_and_drops_the_rest(tmp_path) -> None:
    committed = stage_batch(_batch("r9", 0), tmp_path)
    # a crash half-way through publishing: edits moved, documents not yet
    edits_dst = tmp_path / "edits" / "run_id=r9" / f"part-{committed.key}.parquet"
    edits_dst.parent.mkdir(parents=True)
    os.replace(committed.files["edits"], edits_dst)
    uncommitted = stage_batch(_batch("r9", 1), tmp_path)
    (Path(uncommitted.directory) / READY).unlink()  # died before the commit marker
    assert recover(tmp_path) == {"rolled_forward": 1, "discarded": 1, "fenced": 0,
                                 "interrupted_runs": 0}
    assert _rows(tmp_path, "documents") == 2 and _rows(tmp_path, "edits") == 2
    assert not any((tmp_path / STAGING).iterdir())


def test_published_ids_only_counts_same_versions(tmp_path) -> None:
    staged = stage_batch(_batch(), tmp_path)
    publish_staged(tmp_path, staged.run_id, staged.key, Path(staged.directory))
    published = published_ids(tmp_path, "c", "m")
    assert published.documents == {"d0-0": "s0", "d0-1": "s1"}
    assert published.inputs == {("d0-0", "s0"), ("d0-1", "s1")}
    assert published_ids(tmp_path, "other", "m") == Published({}, set())


def test_run_folders_are_the_folders_runs_were_started_in(tmp_path) -> None:
    """What a relative source a run recorded (as earlier versions did) is relative to: the
    absolute source of its runs row less the relative one it was given."""
    def row(run_id: str, where: str, given: str) -> dict:
        now = datetime.now(UTC)
        return {"run_id": run_id, "flow_run_id": None, "started_at": now, "finished_at": now,
                "source": where, "parameters": json.dumps({"source": given}), "counts": "{}",
                "status": "running", "message": None, "cleaner_version": "c", "model": "m"}

    for run_id, where, given in [("r1", "/home/ana/project/data/raw", "data/raw"),
                                 ("r2", "/home/ana/project/data/raw", "./data/raw/"),
                                 ("r3", "/srv/x/data/*.jsonl", "data/*.jsonl"),
                                 ("r4", "/data/raw", "/data/raw"),  # absolute: no folder
                                 ("r5", "data/raw", "data/raw")]:  # a row of before _where
        write_run(tmp_path, row(run_id, where, given))
    assert run_folders(tmp_path) == {"r1": "/home/ana/project", "r2": "/home/ana/project",
                                     "r3": "/srv/x"}


def test_check_output_names_the_fix(tmp_path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(OutputNotWritable, match="--output"):
        check_output(f / "sub")
    assert check_output(tmp_path / "new").is_dir()


def test_ready_marker_lists_files(tmp_path) -> None:
    staged = stage_batch(_batch(), tmp_path)
    marker = json.loads((Path(staged.directory) / READY).read_text())
    assert marker["rows"] == {"documents": 2, "edits": 2}


def test_recovery_adds_rolled_forward_batches_to_the_dead_runs_counts(tmp_path) -> None:
    """A run killed after committing a batch but before publishing it: the next run's recovery
    publishes the batch and recounts the dead run's row from the tables (it used to keep the
    counts it had written last: 2 documents while 4 were published under its run_id)."""
    started = pa.scalar(0, pa.timestamp("us", tz="UTC")).as_py()
    row = {"run_id": "r9", "flow_run_id": None, "started_at": started, "finished_at": started,
           "source": "/in", "parameters": "{}", "status": "running", "message": None,
           "counts": json.dumps({"documents": 2, "rejects": 0, "edits": 2, "batches": 1}),
           "cleaner_version": "c", "model": "m"}
    write_run(tmp_path, row)
    published = stage_batch(_batch("r9", 0), tmp_path)
    publish_staged(tmp_path, "r9", published.key, Path(published.directory))
    stage_batch(_batch("r9", 1), tmp_path)  # committed, never published
    assert recover(tmp_path)["rolled_forward"] == 1
    [run] = ds.dataset(tmp_path / "runs", format="parquet", partitioning="hive").to_table(
        ).to_pylist()
    assert run["status"] == "interrupted"
    assert json.loads(run["counts"]) == {
        "documents": 4, "rejects": 0, "edits": 4, "flags": 0, "sentences": 0, "entities": 0,
        "batches": 1, "rolled_forward_batches": 1, "rejects_by_reason": {},
        "edits_by_rule": {"whitespace": 4}, "flags_by_rule": {}, "entities_by_label": {}}
    assert _rows(tmp_path, "documents") == 4
    assert run["message"].endswith("[the next run published 1 more committed batches of this "
                                   "run; counts recounted from the tables]")


def test_what_an_orphaned_worker_stages_after_its_run_was_recovered_is_never_published(
        tmp_path) -> None:
    """A killed flow's worker that lives on (an orphan) finishes its batch after the next run
    recovered that run: publishing it would double its documents, which the next run has
    processed itself. The recovery fences the run: later staging is refused or discarded."""
    stage_batch(_batch("r7", 0), tmp_path)  # committed before the flow was killed
    assert recover(tmp_path)["rolled_forward"] == 1
    assert _rows(tmp_path, "documents") == 2
    from store.commit import RunFenced, fenced

    assert fenced(tmp_path, "r7") and not fenced(tmp_path, "r8")
    with pytest.raises(RunFenced):  # the orphan's next batch: refused
        stage_batch(_batch("r7", 1), tmp_path)
    # one the orphan had begun before the fence (its check passed) and committed after
    late = tmp_path / STAGING / "r7" / "000002"
    late.mkdir(parents=True)
    (late / "documents.parquet").write_bytes(b"not read")
    (late / READY).write_text(json.dumps({"files": {}, "rows": {"documents": 2}}))
    assert recover(tmp_path) == {"rolled_forward": 0, "discarded": 0, "fenced": 1,
                                 "interrupted_runs": 0}
    assert _rows(tmp_path, "documents") == 2 and not any((tmp_path / STAGING).iterdir())


def test_runs_found_running_are_fenced_even_with_nothing_staged(tmp_path) -> None:
    """A run killed between batches leaves no staging, only its ``running`` row: its orphaned
    worker may still stage the batch it was given."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    write_run(tmp_path, {"run_id": "r5", "flow_run_id": None, "started_at": now,
                         "finished_at": now, "source": "s", "parameters": "{}",
                         "counts": json.dumps({"documents": 0, "rejects": 0}),
                         "status": "running", "message": None, "cleaner_version": "c",
                         "model": "m"})
    assert recover(tmp_path)["interrupted_runs"] == 1
    from store.commit import fenced

    assert fenced(tmp_path, "r5")
