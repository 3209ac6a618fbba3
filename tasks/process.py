"""One batch on a worker: clean -> annotate -> write aside.

The three steps run in one task so a batch crosses to a worker process once and comes back as
a few file paths: with a process pool or Dask, a task per step would ship every batch through
the flow process three times and triple Prefect's per-task cost.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from store import Staged, stage_batch
from tasks.annotate import EntityPatterns, annotate_documents
from tasks.batch import Batch
from tasks.clean import CleanConfig
from tasks.clean.batch import clean_documents


def io_failure(task, task_run, state) -> bool:  # noqa: ANN001 (Prefect's retry hook)
    """Retry only what can succeed a second time: I/O (disk, network). A failure of a step's
    logic (a schema cast, an unknown model) fails the same way again: retrying only delays it."""
    try:
        state.result()
    except BaseException as exc:  # noqa: BLE001 (what failed decides; nothing is swallowed)
        cause: BaseException | None = exc
        while cause is not None:  # "writing batch ... failed" wraps the disk's OSError
            if isinstance(cause, OSError):  # ConnectionError and TimeoutError are OSErrors
                return True
            cause = cause.__cause__ or cause.__context__
    return False


@task(name="process-batch", cache_policy=NO_CACHE, persist_result=False, retries=1,
      retry_delay_seconds=5, retry_condition_fn=io_failure)
def process_batch(batch: Batch, config: CleanConfig, model_name: str, output: str,
                  entity_patterns: EntityPatterns | str | None = None,
                  max_document_seconds: float | None = None) -> Staged:
    """Clean and annotate a batch, then write its tables aside (committed, not yet published).
    The versions its rows record travel on the batch; a document whose cleaning takes longer
    than ``max_document_seconds`` is a ``too_slow`` reject."""
    batch = clean_documents(batch.copy(), config, max_document_seconds)  # a retry starts afresh
    batch = annotate_documents(batch, model_name, entity_patterns)
    return stage_batch(batch, output)
