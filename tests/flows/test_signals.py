"""Which processes take SIGINT/SIGTERM for the run (flows/signals.py). The signals themselves
are tested end to end: tests/flows/test_crash.py (the command line) and
tests/flows/test_deployments.py (a deployment's run cancelled)."""

from __future__ import annotations

import uuid

from flows.signals import STOP, owns_signals


def test_a_flow_called_from_python_keeps_prefects_signal_handling(monkeypatch) -> None:
    monkeypatch.setattr(STOP, "cli", False)
    monkeypatch.delenv("PREFECT__FLOW_RUN_ID", raising=False)
    assert not owns_signals()


def test_a_deployments_flow_run_process_takes_its_signals(monkeypatch) -> None:
    from prefect.runtime import deployment

    monkeypatch.setattr(STOP, "cli", False)
    monkeypatch.setenv("PREFECT__FLOW_RUN_ID", str(uuid.uuid4()))  # a worker's run
    assert owns_signals()
    monkeypatch.delenv("PREFECT__FLOW_RUN_ID")
    token = deployment._deployment_id.set(uuid.uuid4())  # flow.serve()'s spawned run
    try:
        assert owns_signals()
    finally:
        deployment._deployment_id.reset(token)
    assert not owns_signals()


def test_the_command_line_takes_its_signals(monkeypatch) -> None:
    monkeypatch.setattr(STOP, "cli", True)
    monkeypatch.delenv("PREFECT__FLOW_RUN_ID", raising=False)
    assert owns_signals()
