"""The run report: one self-contained HTML page per run, ``<output>/reports/<run_id>.html``.

Counts as small inline-SVG bar charts, then a sample of documents: the clean text with its
entities highlighted in displaCy's colours, every edit in place (removed text struck through in
red, inserted text in green, the rule on hover) and every flag underlined in yellow (message on
hover). Built from this run's published batch tables only; no scripts, no fetches.
"""

from __future__ import annotations

import html
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from spacy.displacy.render import DEFAULT_LABEL_COLORS

MAX_DOCUMENTS = 50  # documents shown in full; a big run shows the ones with most to look at
MAX_CHARS = 20_000  # characters of one document shown
_DEFAULT_COLOUR = "#ddd"


def read_run_table(output: Path | str, name: str, run_id: str, columns: list[str] | None = None,
                   doc_ids: list[str] | None = None) -> pa.Table:
    """One run's partition of a batch table (empty if the run wrote none), optionally only
    some columns and the rows of some documents: a report must not hold a whole run."""
    from store import read_run_table as read

    return read(output, name, run_id, columns, doc_ids)


def choose_documents(meta: pa.Table) -> list[dict]:
    """The documents a report shows: all, or those with most edits and flags."""
    rows = meta.select(["doc_id", "source", "n_edits", "n_flags", "n_entities"]).to_pylist()
    chosen = sorted(rows, key=lambda d: (-(d["n_edits"] + d["n_flags"]), d["source"]))
    return sorted(chosen[:MAX_DOCUMENTS], key=lambda d: d["source"])


def _by(table: pa.Table, column: str) -> dict[str, int]:
    if not table.num_rows:
        return {}
    counts = {v["values"]: v["counts"] for v in table.column(column).value_counts().to_pylist()}
    return dict(Counter(counts).most_common())


def bar_chart(title: str, data: dict[str, int], colours: dict[str, str] | None = None,
              colour: str = "#4c78a8") -> str:
    """A small horizontal bar chart as inline SVG (or a line saying there is nothing)."""
    esc = html.escape
    if not data:
        return f'<figure class="chart"><figcaption>{esc(title)}</figcaption><p class="none">none</p></figure>'
    rows = sorted(data.items(), key=lambda kv: (-kv[1], kv[0]))
    label_w, bar_w, row_h = 150, 250, 20
    top = max(v for _, v in rows) or 1
    height = row_h * len(rows) + 4
    parts = [f'<svg role="img" aria-label="{esc(title)}" width="{label_w + bar_w + 60}" '
             f'height="{height}" viewBox="0 0 {label_w + bar_w + 60} {height}">']
    for i, (key, value) in enumerate(rows):
        y = i * row_h + 2
        w = max(1, round(bar_w * value / top))
        fill = (colours or {}).get(key, colour if colours is None else _DEFAULT_COLOUR)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{esc(str(key))}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{w}" height="{row_h - 5}" rx="2" '
            f'fill="{fill}"><title>{esc(str(key))}: {value}</title></rect>'
            f'<text x="{label_w + w + 5}" y="{y + 14}">{value}</text>')
    parts.append("</svg>")
    return (f'<figure class="chart"><figcaption>{esc(title)}</figcaption>{"".join(parts)}'
            f"</figure>")


def render_document(text: str, entities: list[dict], edits: list[dict], flags: list[dict],
                    limit: int = MAX_CHARS) -> str:
    """Clean text as HTML with entities (displaCy style), edits in place and flags marked.

    ``entities``: start_char, end_char, label (+ canonical, source, model_label for the hover);
    ``edits``: clean_start, clean_end, before, after, rule; ``flags``: clean_start, clean_end,
    rule, message. Offsets are in ``text``.
    """
    esc = html.escape
    n = min(len(text), limit)
    ents = sorted((e for e in entities if e["start_char"] < n), key=lambda e: e["start_char"])
    eds = [e for e in edits if e["clean_start"] <= n]
    fls = [f for f in flags if f["clean_start"] <= n]
    cuts = {0, n}
    for e in ents:
        cuts.update((e["start_char"], min(e["end_char"], n)))
    for e in eds:
        cuts.update((e["clean_start"], min(e["clean_end"], n)))
    for f in fls:
        cuts.update((f["clean_start"], min(f["clean_end"], n)))
    cuts = sorted(cuts)
    starts = {e["start_char"]: e for e in ents}
    out: list[str] = []
    open_ent: dict | None = None

    def close_entity() -> None:
        nonlocal open_ent
        out.append(f'<span class="ent-label">{esc(open_ent["label"])}</span></mark>')
        open_ent = None

    for k, p in enumerate(cuts):
        if open_ent is not None and min(open_ent["end_char"], n) <= p:
            close_entity()
        for e in eds:
            if e["clean_start"] == p and e["before"]:
                out.append(f'<del title="{esc(_edit_title(e))}">{esc(_visible(e["before"]))}</del>')
        for f in fls:
            if f["clean_start"] == p == f["clean_end"]:
                out.append(f'<span class="flag-point" title="{esc(_flag_title(f))}">&#9873;</span>')
        if p in starts and open_ent is None:
            open_ent = starts[p]
            colour = DEFAULT_LABEL_COLORS.get(open_ent["label"], _DEFAULT_COLOUR)
            out.append(f'<mark class="entity" style="background: {colour}" '
                       f'title="{esc(_entity_title(open_ent))}">')
        if k + 1 == len(cuts):
            break
        q = cuts[k + 1]
        segment = esc(text[p:q])
        for e in eds:
            if e["clean_start"] <= p and q <= e["clean_end"]:
                segment = f'<ins title="{esc(_edit_title(e))}">{segment}</ins>'
                break
        for f in fls:
            if f["clean_start"] <= p and q <= f["clean_end"]:
                segment = f'<span class="flag" title="{esc(_flag_title(f))}">{segment}</span>'
                break
        out.append(segment)
    if open_ent is not None:
        close_entity()
    if n < len(text):
        out.append(f'<span class="cut">[... {len(text) - n:,} more characters not shown]</span>')
    return "".join(out)


def _visible(removed: str) -> str:
    """Removed whitespace shown as marks (a struck-through space is invisible)."""
    if removed.strip():
        return removed.replace("\n", "\u21b5 ")
    return removed.replace(" ", "\u00b7").replace("\t", "\u21e5").replace("\n", "\u21b5")


def _entity_title(e: dict) -> str:
    parts = [e["label"]]
    if e.get("canonical") and e["canonical"] != e.get("text"):
        parts.append(f"canonical: {e['canonical']}")
    if e.get("source"):
        parts.append(f"source: {e['source']}")
    if e.get("model_label") and e["model_label"] != e["label"]:
        parts.append(f"model said: {e['model_label']}")
    return " | ".join(parts)


def _edit_title(e: dict) -> str:
    why = e.get("reason")
    return f"{e['rule']}: {e['before']!r} -> {e['after']!r}" + (f" ({why})" if why else "")


def _flag_title(f: dict) -> str:
    return f"{f['rule']}: {f['message']}"


_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       margin: 0 auto; padding: 1.5em 2em 4em; max-width: 1100px; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { margin-top: 1.6em; font-size: 1.2em; }
.meta { color: #555; } .meta code { background: #f3f3f3; padding: 0 .3em; }
table.totals { border-collapse: collapse; margin: 1em 0; }
table.totals th, table.totals td { border: 1px solid #ddd; padding: .25em .8em; text-align: right; }
table.totals th { background: #f6f6f6; font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: .5em 2em; }
figure.chart { margin: .5em 0; } figcaption { font-weight: 600; margin-bottom: .2em; }
figure.chart svg text { font-size: 12px; fill: #333; } p.none { color: #888; margin: 0; }
.legend span { margin-right: 1.2em; }
article { border-top: 1px solid #ddd; padding-top: .6em; margin-top: 1.2em; }
article h3 { font-size: 1em; margin: 0 0 .4em; font-family: ui-monospace, monospace; }
article .counts { color: #666; font-size: .9em; margin-bottom: .4em; }
.doc { white-space: pre-wrap; line-height: 2.3; }
mark.entity { padding: .25em .45em; margin: 0 .15em; line-height: 1; border-radius: .35em;
              color: inherit; }
.ent-label { font-size: .7em; font-weight: bold; line-height: 1; vertical-align: middle;
             margin-left: .4rem; text-transform: uppercase; }
del { color: #b00020; background: #fde8ea; text-decoration: line-through; }
ins { color: #0a6b2c; background: #e3f6e8; text-decoration: none; border-bottom: 1px solid #0a6b2c; }
.flag { text-decoration: underline wavy #e6b800; text-decoration-thickness: 2px;
        text-underline-offset: 3px; background: #fff8d6; }
.flag-point { color: #c79a00; }
.cut { color: #888; font-style: italic; }
table.rejects { border-collapse: collapse; font-size: .9em; }
table.rejects td, table.rejects th { border: 1px solid #ddd; padding: .2em .6em; text-align: left; }
"""


def build_report(run_id: str, status: str, tables: dict[str, pa.Table],
                 counts: dict | None = None) -> str:
    """The whole HTML page of a run from its tables (documents, edits, flags, entities, rejects)."""
    esc = html.escape
    docs, edits, flags = tables["documents"], tables["edits"], tables["flags"]
    entities, rejects = tables["entities"], tables["rejects"]
    counts = counts or {}
    meta = tables.get("documents_meta", docs)
    totals = {"documents": meta.num_rows, "rejects": rejects.num_rows,
              "skipped": counts.get("skipped", 0), "edits": edits.num_rows,
              "flags": flags.num_rows, "entities": entities.num_rows}
    # the run's own counts cover every document; the tables may hold only those shown
    for key in ("edits", "flags", "entities"):
        totals[key] = counts.get(key, totals[key])
    head = "".join(f"<th>{k}</th>" for k in totals)
    row = "".join(f"<td>{v:,}</td>" for v in totals.values())
    charts = "".join([
        bar_chart("Rejects by reason", counts.get("rejects_by_reason") or _by(rejects, "reason"),
                  colour="#c0392b"),
        bar_chart("Edits by rule", counts.get("edits_by_rule") or _by(edits, "rule"),
                  colour="#2e8b57"),
        bar_chart("Flags by rule", counts.get("flags_by_rule") or _by(flags, "rule"),
                  colour="#e6b800"),
        bar_chart("Entities by label", counts.get("entities_by_label") or _by(entities, "label"),
                  colours=DEFAULT_LABEL_COLORS),
    ])
    parts = [
        f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>preprocess run {esc(run_id)}</title><style>{_CSS}</style></head><body>",
        f"<h1>preprocess run <code>{esc(run_id)}</code>: {esc(status)}</h1>",
        f'<p class="meta">Written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.'
        + (f" Model <code>{esc(meta.column('model')[0].as_py())}</code>, cleaner "
           f"<code>{esc(meta.column('cleaner_version')[0].as_py())}</code>."
           if meta.num_rows else "") + "</p>",
        f'<table class="totals"><tr>{head}</tr><tr>{row}</tr></table>',
        f'<div class="charts">{charts}</div>',
    ]
    if rejects.num_rows:
        rows = "".join(f"<tr><td>{esc(r['source'])}</td><td>{esc(r['reason'])}</td>"
                       f"<td>{esc(r['detail'])}</td></tr>"
                       for r in rejects.select(["source", "reason", "detail"]).to_pylist()[:200])
        parts.append(f"<h2>Rejects</h2><table class=\"rejects\"><tr><th>source</th><th>reason"
                     f"</th><th>detail</th></tr>{rows}</table>")
    parts.append(_documents_section(meta, docs, edits, flags, entities))
    parts.append("</body></html>\n")
    return "".join(parts)


def _documents_section(meta_table: pa.Table, docs: pa.Table, edits: pa.Table, flags: pa.Table,
                       entities: pa.Table) -> str:
    esc = html.escape
    if not meta_table.num_rows:
        return "<h2>Documents</h2><p>No documents in this run.</p>"
    n_all = meta_table.num_rows
    chosen = choose_documents(meta_table)
    wanted = pa.array([d["doc_id"] for d in chosen], pa.string())
    docs = docs.filter(pa.compute.is_in(docs.column("doc_id"), value_set=wanted))

    def rows(table: pa.Table) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        if table.num_rows:
            table = table.filter(pa.compute.is_in(table.column("doc_id"), value_set=wanted))
            for r in table.to_pylist():
                out.setdefault(r["doc_id"], []).append(r)
        return out

    texts = dict(zip(docs.column("doc_id").to_pylist(), docs.column("clean_text").to_pylist()))
    by_edit, by_flag, by_ent = rows(edits), rows(flags), rows(entities)
    shown = (f"all {n_all} documents" if len(chosen) == n_all else
             f"{len(chosen)} of {n_all} documents (those with the most edits and flags)")
    legend = ('<p class="legend"><span><del title="removed">removed</del> '
              '<ins title="inserted">inserted</ins> (rule on hover)</span>'
              '<span><span class="flag" title="flag">flagged for review</span> (message on hover)'
              '</span><span>entities in displaCy colours (canonical name, source and the '
              "model's label on hover)</span></p>")
    parts = [f"<h2>Documents</h2><p>Showing {shown}.</p>{legend}"]
    for d in chosen:
        body = render_document(texts[d["doc_id"]], by_ent.get(d["doc_id"], []),
                               by_edit.get(d["doc_id"], []), by_flag.get(d["doc_id"], []))
        parts.append(
            f'<article id="doc-{esc(d["doc_id"][:12])}"><h3>{esc(d["source"])}</h3>'
            f'<div class="counts">{d["n_edits"]} edits, {d["n_flags"]} flags, '
            f'{d["n_entities"]} entities</div><div class="doc">{body}</div></article>')
    return "".join(parts)


def write_report(output: Path | str, run_id: str, status: str, counts: dict | None = None) -> str:
    """Build the run's report from its published tables and write it atomically."""
    meta = read_run_table(output, "documents", run_id,
                          ["doc_id", "source", "n_edits", "n_flags", "n_entities", "model",
                           "cleaner_version"])
    shown = [d["doc_id"] for d in choose_documents(meta)]
    tables = {name: read_run_table(output, name, run_id, doc_ids=shown)
              for name in ("documents", "edits", "flags", "entities")}
    tables["documents_meta"] = meta
    tables["rejects"] = read_run_table(output, "rejects", run_id, ["source", "reason", "detail"])
    page = build_report(run_id, status, tables, counts)
    from store import location, write_text
    from store.layout import report

    write_text(location(output), report(run_id), page)
    return location(output).show(report(run_id))
