"""The run report: one self-contained HTML page per run, ``<output>/reports/<run_id>.html``.

Counts as small inline-SVG bar charts, then a sample of documents: the clean text with its
entities highlighted in displaCy's colours, every edit in place (removed text struck through in
red, inserted text in green, the rule on hover) and every flag underlined in yellow (message on
hover). Built from this run's published batch tables only; no scripts, no fetches.
"""

from __future__ import annotations

import functools
import html
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import jinja2
import pyarrow as pa
from markupsafe import Markup

from store import location, read_run_table, write_text
from store.layout import report
from store.read import value_counts

MAX_DOCUMENTS = 50  # documents shown in full; a big run shows the ones with most to look at
MAX_CHARS = 20_000  # characters of one document shown
_DEFAULT_COLOUR = "#ddd"


@functools.cache
def label_colours() -> dict[str, str]:
    """displaCy's colour per entity label (spaCy is imported when a report is drawn, not when
    the flow starts)."""
    from spacy.displacy.render import DEFAULT_LABEL_COLORS

    return DEFAULT_LABEL_COLORS


def choose_documents(meta: pa.Table) -> list[dict]:
    """The documents a report shows: all, or those with most edits and flags."""
    rows = meta.select(["doc_id", "source", "n_edits", "n_flags", "n_entities"]).to_pylist()
    chosen = sorted(rows, key=lambda d: (-(d["n_edits"] + d["n_flags"]), d["source"]))
    return sorted(chosen[:MAX_DOCUMENTS], key=lambda d: d["source"])


def bar_chart(title: str, data: dict[str, int], colours: dict[str, str] | None = None,
              colour: str = "#4c78a8") -> dict:
    """A small horizontal bar chart's geometry, drawn as inline SVG by the template."""
    label_w, bar_w, row_h = 150, 250, 20
    rows = sorted(data.items(), key=lambda kv: (-kv[1], kv[0]))
    top = max((v for _, v in rows), default=0) or 1
    return {
        "title": title, "label_w": label_w, "row_h": row_h, "width": label_w + bar_w + 60,
        "height": row_h * len(rows) + 4,
        "rows": [{"key": str(key), "value": value, "y": i * row_h + 2,
                  "w": max(1, round(bar_w * value / top)),
                  "fill": (colours or {}).get(key, colour if colours is None else _DEFAULT_COLOUR)}
                 for i, (key, value) in enumerate(rows)],
    }


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
    cuts = _cuts(n, ents, eds, fls)
    starts = {e["start_char"]: e for e in ents}
    out: list[str] = []
    open_ent: dict | None = None
    for k, p in enumerate(cuts):
        if open_ent is not None and min(open_ent["end_char"], n) <= p:
            out.append(_entity_end(open_ent))
            open_ent = None
        out.extend(_marks_at(p, eds, fls))
        if p in starts and open_ent is None:
            open_ent = starts[p]
            colour = label_colours().get(open_ent["label"], _DEFAULT_COLOUR)
            out.append(f'<mark class="entity" style="background: {colour}" '
                       f'title="{esc(_entity_title(open_ent))}">')
        if k + 1 == len(cuts):
            break
        out.append(_segment(text, p, cuts[k + 1], eds, fls))
    if open_ent is not None:
        out.append(_entity_end(open_ent))
    if n < len(text):
        out.append(f'<span class="cut">[... {len(text) - n:,} more characters not shown]</span>')
    return "".join(out)


def _cuts(n: int, ents: list[dict], eds: list[dict], fls: list[dict]) -> list[int]:
    """The offsets (up to ``n``) where an entity, an edit or a flag starts or ends, in order."""
    cuts = {0, n}
    for e in ents:
        cuts.update((e["start_char"], min(e["end_char"], n)))
    for e in eds:
        cuts.update((e["clean_start"], min(e["clean_end"], n)))
    for f in fls:
        cuts.update((f["clean_start"], min(f["clean_end"], n)))
    return sorted(cuts)


def _entity_end(ent: dict) -> str:
    return f'<span class="ent-label">{html.escape(ent["label"])}</span></mark>'


def _marks_at(p: int, eds: list[dict], fls: list[dict]) -> list[str]:
    """What stands at offset ``p`` itself: the text edits removed there, the flags of no span."""
    esc = html.escape
    out = [f'<del title="{esc(_edit_title(e))}">{esc(_visible(e["before"]))}</del>'
           for e in eds if e["clean_start"] == p and e["before"]]
    out += [f'<span class="flag-point" title="{esc(_flag_title(f))}">&#9873;</span>'
            for f in fls if f["clean_start"] == p == f["clean_end"]]
    return out


def _segment(text: str, p: int, q: int, eds: list[dict], fls: list[dict]) -> str:
    """The text from ``p`` to ``q`` (no cut inside), marked as inserted and flagged where it is."""
    esc = html.escape
    segment = esc(text[p:q])
    for e in eds:
        if e["clean_start"] <= p and q <= e["clean_end"]:
            segment = f'<ins title="{esc(_edit_title(e))}">{segment}</ins>'
            break
    for f in fls:
        if f["clean_start"] <= p and q <= f["clean_end"]:
            segment = f'<span class="flag" title="{esc(_flag_title(f))}">{segment}</span>'
            break
    return segment


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


@functools.cache
def _template() -> jinja2.Template:
    """The page's template, shipped next to this module (package data, not a path on disk)."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    page = resources.files("tasks.report").joinpath("report.html.j2")
    return env.from_string(page.read_text("utf-8"))


def build_report(run_id: str, status: str, tables: dict[str, pa.Table],
                 counts: dict | None = None) -> str:
    """The whole HTML page of a run from its tables (documents, edits, flags, entities, rejects)."""
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
    charts = [
        bar_chart("Rejects by reason", counts.get("rejects_by_reason") or value_counts(rejects, "reason"),
                  colour="#c0392b"),
        bar_chart("Edits by rule", counts.get("edits_by_rule") or value_counts(edits, "rule"),
                  colour="#2e8b57"),
        bar_chart("Flags by rule", counts.get("flags_by_rule") or value_counts(flags, "rule"),
                  colour="#e6b800"),
        bar_chart("Entities by label", counts.get("entities_by_label") or value_counts(entities, "label"),
                  colours=label_colours()),
    ]
    chosen = choose_documents(meta) if meta.num_rows else []
    return _template().render(
        run_id=run_id, status=status, written=f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
        model=meta.column("model")[0].as_py() if meta.num_rows else None,
        cleaner=meta.column("cleaner_version")[0].as_py() if meta.num_rows else None,
        totals=totals, charts=charts,
        rejects=rejects.select(["source", "reason", "detail"]).to_pylist()[:200],
        shown=(f"all {meta.num_rows} documents" if len(chosen) == meta.num_rows else
               f"{len(chosen)} of {meta.num_rows} documents (those with the most edits and "
               "flags)"),
        documents=_documents(chosen, docs, edits, flags, entities)) + "\n"


def _documents(chosen: list[dict], docs: pa.Table, edits: pa.Table, flags: pa.Table,
               entities: pa.Table) -> list[dict]:
    """The chosen documents with their bodies rendered (entities, edits, flags in place)."""
    if not chosen:
        return []
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
    return [{**d, "body": Markup(render_document(texts[d["doc_id"]], by_ent.get(d["doc_id"], []),
                                                 by_edit.get(d["doc_id"], []),
                                                 by_flag.get(d["doc_id"], [])))}
            for d in chosen]


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
    return save_report(output, run_id, build_report(run_id, status, tables, counts))


def save_report(output: Path | str, run_id: str, page: str) -> str:
    """Write the page to ``<output>/reports/<run_id>.html`` atomically; where it is."""
    write_text(location(output), report(run_id), page)
    return location(output).show(report(run_id))
