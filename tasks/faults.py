"""Failpoints (``store.faults``, where the store's commit protocol reaches them), importable from
here as before."""

from store.faults import failpoint

__all__ = ["failpoint"]
