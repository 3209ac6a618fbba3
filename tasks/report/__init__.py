"""Report: the run's self-contained HTML page (``page``), from its template ``report.html.j2``
beside it (package data)."""

from tasks.report.page import build_report, render_document, write_report

__all__ = ["build_report", "render_document", "write_report"]
