"""The run's summary in Prefect: a markdown artifact (counts, counts by reason/rule/label, the
report's path) and a table artifact of the headline counts, both keyed so the UI shows each
run's next to the last one's."""

from __future__ import annotations

import re

from prefect.artifacts import create_markdown_artifact, create_table_artifact

HEADLINE = ("documents", "rejects", "skipped", "edits", "flags", "sentences", "entities")

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&])")


def _md(value: object) -> str:
    """Text for a markdown table cell: one line, every markdown character escaped (an entity
    label or a reject reason with ``|`` would otherwise split the table)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def summary_markdown(run_id: str, status: str, counts: dict, output: str,
              report: str | None = None) -> str:
    def table(title: str, data: dict) -> str:
        if not data:
            return f"**{title}**: none\n"
        rows = "\n".join(f"| {_md(k)} | {_md(v)} |"
                         for k, v in sorted(data.items(), key=lambda kv: -kv[1]))
        return f"**{title}**\n\n| | count |\n|---|---:|\n{rows}\n"

    head = (f"# preprocess run {_md(run_id)}: {_md(status)}\n\n"
            f"Output: {_md(output)}\n\n"
            + (f"Report (open in a browser): {_md(report)}\n\n" if report else "")
            + "| documents | rejects | skipped | edits | flags | sentences | entities |\n"
            "|---:|---:|---:|---:|---:|---:|---:|\n"
            + " | ".join(["", *(_md(counts[k]) for k in HEADLINE), ""]).strip()
            + "\n\n")
    return head + "\n".join([
        table("Rejects by reason", counts["rejects_by_reason"]),
        table("Edits by rule", counts["edits_by_rule"]),
        table("Flags by rule", counts["flags_by_rule"]),
        table("Entities by label", counts["entities_by_label"]),
        table("Seconds by stage", counts["seconds_by_stage"]),
    ])


def publish_summary(run_id: str, status: str, counts: dict, output: str,
                    report: str | None) -> None:
    """The run's artifacts: the markdown summary, and its headline counts as a table."""
    create_markdown_artifact(markdown=summary_markdown(run_id, status, counts, output, report),
                             key="preprocess-summary", description=f"preprocess run {run_id}")
    create_table_artifact(
        table=[{"run_id": run_id, "status": status, **{k: counts[k] for k in HEADLINE},
                "report": report or ""}],
        key="preprocess-counts", description=f"preprocess run {run_id}: headline counts")
