"""The per-document time budget: cleaning past it raises ``TooSlow`` (a ``too_slow`` reject in a
batch); without one, or within it, cleaning is what it always was."""

from __future__ import annotations

import threading
import time

import pytest

from bench.long_lines import one_line
from tasks.batch import Batch, incoming_table
from tasks.clean import CleanConfig, TooSlow, clean_text
from tasks.clean.batch import clean_documents
from tasks.clean.engine import Edit, Rule, check_time, run_rules, time_budget
from tasks.ingest import Document


def _slow(text: str) -> list[Edit]:
    """A rule with a long loop that looks at the clock, as the real rules' loops do."""
    for _ in range(50):
        time.sleep(0.01)
        check_time()
    return []


def test_a_rule_past_the_budget_is_stopped_inside_its_loop() -> None:
    rules = (Rule("quick", lambda t: []), Rule("slow_rule", _slow))
    started = time.monotonic()
    with pytest.raises(TooSlow) as raised:
        run_rules("Officials met in Oslo.", rules, budget=0.05)
    assert time.monotonic() - started < 0.4  # stopped, not run to its end (0.5 s)
    assert str(raised.value) == ("cleaning took longer than its budget of 0.05 s "
                                 "(max_document_seconds), stopped in rule 'slow_rule'")
    assert raised.value.reject_reason == "too_slow"


def test_no_budget_or_a_budget_not_reached_changes_nothing() -> None:
    text = "The the talks covered trade , including including energy."
    expected = clean_text(text)
    assert clean_text(text, budget=30) == expected
    check_time()  # outside a budget: never raises
    with time_budget(None):
        check_time()


def test_each_thread_has_its_own_budget() -> None:
    """The thread runner cleans in worker threads: one document's deadline is not another's."""
    errors: list[BaseException] = []

    def clean_slowly() -> None:
        try:
            run_rules("x", (Rule("slow_rule", _slow),), budget=0.02)
        except TooSlow as exc:
            errors.append(exc)

    worker = threading.Thread(target=clean_slowly)
    worker.start()
    with time_budget(60):
        worker.join()
        check_time()  # this thread's budget is not the worker's, which ran out
    assert len(errors) == 1


def test_a_slow_document_is_a_too_slow_reject_and_the_batch_goes_on() -> None:
    texts = ["Officials met in Oslo on on Tuesday.", one_line("repeated", 1_000_000),
             "A dog  barked."]
    docs = [Document(f"d{i}", f"s{i}.txt", t, "utf-8", False) for i, t in enumerate(texts)]
    batch = Batch("run", 0, incoming_table(docs), cleaner_version="c1", model="m1")
    out = clean_documents(batch, CleanConfig(), budget=0.05)
    assert [(r["doc_id"], r["source"], r["reason"], r["raw_text"] == texts[1])
            for r in out.tables["rejects"].to_pylist()] == [("d1", "s1.txt", "too_slow", True)]
    assert out.tables["rejects"].column("detail")[0].as_py().startswith(
        "s1.txt: cleaning took longer than its budget of 0.05 s (max_document_seconds)")
    assert out.incoming.column("doc_id").to_pylist() == ["d0", "d2"]
    assert out.incoming.column("clean_text").to_pylist() == [
        "Officials met in Oslo on Tuesday.", "A dog barked."]


def test_a_batch_of_only_a_slow_document_is_one_reject() -> None:
    """A 1 MB document fills a batch (batch_chars) on its own: every row of it is rejected."""
    text = one_line("repeated", 1_000_000)
    batch = Batch("run", 0, incoming_table([Document("d0", "s0.txt", text, "utf-8", False)]))
    out = clean_documents(batch, CleanConfig(), budget=0.05)
    assert out.tables["rejects"].column("reason").to_pylist() == ["too_slow"]
    assert out.incoming.num_rows == 0
    assert out.tables["edits"].num_rows == out.tables["flags"].num_rows == 0
