"""The corpus's ``entity_index``, kept up to date by each run at the cost of the run's documents.

    python -m tasks.entities.index --output output            # fold in what is not yet folded
    python -m tasks.entities.index --output output --rebuild  # from the tables, in bounded memory

A run *folds* its published documents into the output's state (``store/state.py``):

1. the names of each document's current version (``doc_names``): a document processed again
   replaces its earlier version's names, so each document counts once, in its latest version;
2. per name (``names``): counts, first/last seen, the documents that mention it, and the keys by
   which the grouping finds the names it could be joined with (the same name key, a one-edit
   variant, the last word of a person's name, initials and acronym letters, the exonym line);
3. the grouping (``tasks.entities.groups.group_names``) decided again only around the names the
   run touched: the *region* is the touched names, every name sharing a key with one of them,
   and the entities those belong to; the names sharing a key with the region are given to the
   grouping as the facts it decides with ("the only person in the corpus whose name ends with
   it"), and the co-occurring names it asks for come from the whole corpus's ``doc_names``.
   Rows outside the region keep their entity: nothing they were decided on has changed.
4. ``entity_index/index.parquet`` is written from the names, in one atomic replace (readers see
   the old index or the new, never a mix), then the state's snapshot is committed.

The lookups over the state are DuckDB queries over its Parquet buckets with a memory limit, so a
run's memory follows its own documents, not the corpus. A rebuild folds every published run
again into a new state, a bounded number of documents at a time, and the grouping is decided
again everywhere (a new ``GROUPING_RELEASE``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from schemas.tables import (
    ENTITY_INDEX_V3,
    STATE_DEFINITIONS_V1,
    STATE_DOC_NAMES_V1,
    STATE_IDS_V1,
    STATE_NAMES_V1,
    TABLES,
)
from store import atomic, output_lock, state
from store.faults import failpoint
from store.layout import ENTITY_INDEX, location
from store.read import (
    ID_TABLES,
    count_run_rows,
    ids_columns,
    ids_rows,
    latest_versions,
    read_run_table,
    run_ids,
)
from tasks.entities.document import NAME_LABELS, may_define
from tasks.entities.groups import (
    _THE,
    GROUPING_RELEASE,
    MIN_WORD,
    Identity,
    Name,
    _compact,
    _deletions,
    acronym_letters,
    exonyms,
    family,
    find_definitions,
    group_names,
    initials,
    name_key,
)

log = logging.getLogger(__name__)

DUCKDB_MEMORY = os.environ.get("MTCLEAN_INDEX_MEMORY", "512MB")  # DuckDB's memory limit
REBUILD_DOCUMENTS = 5_000  # documents folded at a time by a rebuild (its memory bound)
GROUP_NAMES = 50_000  # names a rebuild decides the entities of at a time (whole components)
PREFETCH_DOCUMENTS = 1_000  # names in more documents have their co-occurring names read lazily
Key = tuple[str, str]  # (canonical, label)


def name_bucket(canonical: str, label: str) -> int:
    return state.bucket_of(f"{label}\x1f{canonical}")


def name_keys(canonical: str, label: str) -> list[str]:
    """The keys by which the grouping finds the names a name could be joined with, or that it
    decides with: two names share a key if a rule of ``group_names`` may compare them.

    - ``s``: the same name (its family and compact key: "KYIV's" / "Kyiv");
    - ``d``: a one-edit variant in one word (the word, or it less one letter, beside the other
      words: ``group_names``'s own candidate index, "Zelensky" / "Zelenskyy");
    - ``L`` / ``l``: a person's last word, or it less one letter, of a full name / of a name of
      one word (short forms: "Zelenskiy" alone and "Volodymyr Zelensky");
    - ``i`` / ``a``: a name's initials / an acronym's letters, any family ("European Union" /
      "EU");
    - ``e``: a line of tasks/entities/exonyms.txt ("Kiev" / "Kyiv").
    Some keys are looked for under another (``PROBES``): a full name needs the one-word names
    of its last word, not every other full name (those are the one-word name's facts)."""
    fam = family(label)
    words_key = name_key(canonical)
    words = words_key.split()
    capital = "" if _THE.sub("", canonical)[:1].islower() else "^"
    keys = {f"s\x1f{fam}\x1f{_compact(words_key)}{capital}"}
    for w, word in enumerate(words):
        if len(word) >= MIN_WORD - 1:
            rest = " ".join(words[:w] + words[w + 1:])
            keys |= {f"d\x1f{fam}\x1f{len(words)}\x1f{w}\x1f{rest}\x1f{form}"
                     for form in _deletions(word)}
    if fam == "PERSON" and words:
        kind = "L" if len(words) > 1 else "l"
        keys |= {f"{kind}\x1f{form}" for form in _deletions(words[-1])}
    if found := initials(canonical):
        keys.add(f"i\x1f{found}")
    if found := acronym_letters(canonical):
        keys.add(f"a\x1f{found}")
    if (line := exonyms().get(_compact(words_key))) is not None:
        keys.add(f"e\x1f{line}")
    return sorted(keys)


# --- which runs are folded ----------------------------------------------------------------------


# the keys a key is looked for under: a name with initials needs the acronyms with its letters;
# an acronym every name with its letters as initials (its facts: "the only name in the corpus
# with these initials") and the other acronyms; a full name the one-word names of its last
# word; a one-word name every full name ending with it. Other kinds: themselves.
PROBES = {"i": "a", "a": "ia", "L": "l", "l": "L"}


def probe_keys(keys: Iterable[str]) -> set[str]:
    return {kind + key[1:] for key in keys for kind in PROBES.get(key[0], key[0])}


def published_runs(output: str) -> list[str]:
    """Every run with a partition in documents, rejects or sightings, oldest first."""
    return sorted({r for name in ID_TABLES for r in run_ids(output, name)})


def pending_runs(output: str, snapshot: state.Snapshot | None = None) -> list[str]:
    snapshot = snapshot or state.load(output)
    folded = set(snapshot.folded)
    return [r for r in published_runs(output) if r not in folded]


# --- the fold ---------------------------------------------------------------------------------


@dataclass
class Fold:
    """What folding some runs changes: new bucket tables, and the names it touched."""

    changes: dict[str, dict[int, pa.Table]] = field(default_factory=lambda: defaultdict(dict))
    touched: set[Key] = field(default_factory=set)
    stats: dict[str, float] = field(default_factory=dict)
    # a rebuild's: each new bucket table is written into the draft at once (and read back from
    # it), not held in ``changes``, so that the fold holds one bucket at a time
    draft: state.Draft | None = None

    def put(self, table: str, bucket: int, rows: pa.Table) -> None:
        if self.draft is None:
            self.changes[table][bucket] = rows
        else:
            self.draft.put(table, bucket, rows)


def _concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    tables = [t for t in tables if t.num_rows]
    return pa.concat_tables(tables).combine_chunks() if tables else schema.empty_table()


def _run_rows(output: str, name: str, runs: list[str], columns: list[str]) -> pa.Table:
    return _concat([read_run_table(output, name, r, columns) for r in runs],
                   TABLES[name].empty_table().select(columns).schema)


def _ids_rows(output: str, runs: list[str]) -> pa.Table:
    """The recorded inputs of ``runs`` as ``STATE_IDS_V1`` rows."""
    return _concat([ids_rows(_run_rows(output, name, runs, ids_columns(name)), name)
                    for name in ID_TABLES], STATE_IDS_V1)


def _fold_ids(snapshot: state.Snapshot, fold: Fold, rows: pa.Table, runs: list[str]) -> None:
    for bucket, new in state.split(rows, "doc_id").items():
        old = snapshot.read_bucket("ids", STATE_IDS_V1, bucket, fold.changes)
        # rows of these runs already there (a fold that died after writing them) are replaced
        old = old.filter(pc.invert(pc.is_in(old.column("run_id"), pa.array(runs, pa.string()))))
        fold.put("ids", bucket, _concat([old, new], STATE_IDS_V1))


def fold_runs(output: str, snapshot: state.Snapshot, runs: list[str],
              fold: Fold | None = None, regroup: bool = True) -> Fold:
    """The state's changes from folding the published ``runs`` in (nothing written, unless
    ``fold`` writes into a draft). ``regroup``: decide the entities around the touched names
    (a rebuild decides them once, after every run is folded)."""
    fold = fold or Fold()
    started = time.perf_counter()
    _fold_ids(snapshot, fold, _ids_rows(output, runs), runs)
    docs = _run_rows(output, "documents", runs, ["doc_id", "run_id", "processed_at"])
    if docs.num_rows:
        ents = _run_rows(output, "entities", runs, ["doc_id", "run_id", "canonical", "label",
                                                    "start_char", "end_char"])
        _fold_documents(output, snapshot, fold, docs, ents)
        fold.stats["names_touched"] = len(fold.touched)
        if fold.touched and regroup:
            _regroup(snapshot, fold)
    fold.stats["seconds"] = time.perf_counter() - started
    return fold


def _fold_documents(output: str, snapshot: state.Snapshot, fold: Fold, docs: pa.Table,
                    ents: pa.Table) -> None:
    """Steps 1-2: each document's current names, and every touched name's counts."""
    versions = docs.join(latest_versions(docs), keys=["doc_id", "run_id"], join_type="inner")
    newest = {d: (p, r) for d, r, p in zip(*(versions.column(c).to_pylist()
                                              for c in ("doc_id", "run_id", "processed_at")))}
    # the earlier current version of each document, where one had names
    old_by_doc: dict[str, list[dict]] = defaultdict(list)
    doc_tables: dict[int, pa.Table] = {}
    wanted = pa.array(sorted(newest), pa.string())
    buckets = sorted(set(state.buckets_of(newest)))
    for bucket in buckets:
        table = snapshot.read_bucket("doc_names", STATE_DOC_NAMES_V1, bucket)
        if fold.draft is None:  # a rebuild's chunk touches every bucket: read again below
            doc_tables[bucket] = table
        for row in table.filter(pc.is_in(table.column("doc_id"), wanted)).to_pylist():
            old_by_doc[row["doc_id"]].append(row)
    current = {d for d, v in newest.items()
               if d not in old_by_doc or (old_by_doc[d][0]["processed_at"],
                                          old_by_doc[d][0]["run_id"]) < v}
    # the names of the new current versions, with their counts
    keep = pa.table({"doc_id": pa.array(sorted(current), pa.string()),
                     "run_id": pa.array([newest[d][1] for d in sorted(current)], pa.string())})
    cur_ents = ents.join(keep, keys=["doc_id", "run_id"], join_type="inner")
    counted = cur_ents.group_by(["doc_id", "run_id", "canonical", "label"]).aggregate(
        [("start_char", "count")])
    added: list[dict] = []
    for d, r, c, lab, n in zip(*(counted.column(x).to_pylist() for x in (
            "doc_id", "run_id", "canonical", "label", "start_char_count"))):
        added.append({"doc_id": d, "run_id": r, "processed_at": newest[d][0], "canonical": c,
                      "label": lab, "n_mentions": n})
    removed = [row for d in current for row in old_by_doc.get(d, [])]
    # doc_names: the replaced versions out, the new ones in
    new_rows = state.split(pa.Table.from_pylist(added, schema=STATE_DOC_NAMES_V1), "doc_id")
    out = pa.array(sorted(current), pa.string())
    for bucket in buckets:
        table = doc_tables.pop(bucket, None)
        if table is None:
            table = snapshot.read_bucket("doc_names", STATE_DOC_NAMES_V1, bucket)
        table = table.filter(pc.invert(pc.is_in(table.column("doc_id"), out)))
        fold.put("doc_names", bucket, _concat(
            [table, new_rows.get(bucket, STATE_DOC_NAMES_V1.empty_table())], STATE_DOC_NAMES_V1))
    # first and last seen span every version of the chunk that mentions the name
    dated = ents.select(["doc_id", "run_id", "canonical", "label"]).join(
        docs, keys=["doc_id", "run_id"], join_type="inner")
    seen = dated.group_by(["canonical", "label"]).aggregate(
        [("processed_at", "min"), ("processed_at", "max")])
    _fold_names(snapshot, fold, added, removed, seen)
    _fold_definitions(output, snapshot, fold, cur_ents, current)


def _fold_names(snapshot: state.Snapshot, fold: Fold, added: list[dict], removed: list[dict],
                seen: pa.Table) -> None:
    delta: dict[Key, list] = defaultdict(lambda: [0, set(), set()])  # n, docs +, docs -
    for row in removed:
        d = delta[(row["canonical"], row["label"])]
        d[0] -= row["n_mentions"]
        d[2].add(row["doc_id"])
    for row in added:
        d = delta[(row["canonical"], row["label"])]
        d[0] += row["n_mentions"]
        d[1].add(row["doc_id"])
    spans = {(c, lab): (lo, hi) for c, lab, lo, hi in zip(*(seen.column(x).to_pylist() for x in (
        "canonical", "label", "processed_at_min", "processed_at_max")))}
    touched = set(delta) | set(spans)
    fold.touched |= touched
    by_bucket: dict[int, list[Key]] = defaultdict(list)
    for key in touched:
        by_bucket[name_bucket(*key)].append(key)
    for bucket, keys in by_bucket.items():
        table = snapshot.read_bucket("names", STATE_NAMES_V1, bucket)
        mask = _is_key(table, keys)
        rows = {(r["canonical"], r["label"]): r for r in table.filter(mask).to_pylist()}
        for key in keys:
            row = rows.get(key) or _new_name(*key, spans[key][0])
            n, plus, minus = delta.get(key, (0, set(), set()))
            docs = (set(row["documents"]) - minus) | plus
            row["documents"] = sorted(docs)
            row["n_documents"] = len(docs)
            row["n_mentions"] += n
            if key in spans:
                row["first_seen"] = min(row["first_seen"], spans[key][0])
                row["last_seen"] = max(row["last_seen"], spans[key][1])
            rows[key] = row
        fold.put("names", bucket, _concat(
            [table.filter(pc.invert(mask)),
             pa.Table.from_pylist(list(rows.values()), schema=STATE_NAMES_V1)], STATE_NAMES_V1))


def _is_key(table: pa.Table, keys: Iterable[Key]) -> pa.ChunkedArray | pa.Array:
    wanted = pa.array([f"{lab}\x1f{c}" for c, lab in keys], pa.string())
    joined = pc.binary_join_element_wise(table.column("label"), table.column("canonical"), "\x1f")
    return pc.fill_null(pc.is_in(joined, wanted), False)


def _new_name(canonical: str, label: str, at) -> dict:  # noqa: ANN001
    return {"canonical": canonical, "label": label, "n_documents": 0, "n_mentions": 0,
            "first_seen": at, "last_seen": at, **_identity_columns(_alone(canonical, label)),
            "documents": [], "keys": name_keys(canonical, label)}


def _alone(canonical: str, label: str) -> Identity:
    return next(iter(group_names([Name(canonical, label, 0, 0, frozenset())],
                                 frozenset()).values()))


def _identity_columns(identity: Identity) -> dict:
    return {"entity_id": identity.entity_id, "entity_canonical": identity.entity_canonical,
            "entity_label": identity.entity_label, "aliases": list(identity.aliases),
            "merge_evidence": identity.merge_evidence, "grouping_version": GROUPING_RELEASE}


def _fold_definitions(output: str, snapshot: state.Snapshot, fold: Fold, cur_ents: pa.Table,
                      current: set[str]) -> None:
    """Acronym definitions of the new current versions replace those of the earlier ones."""
    held = snapshot.read_bucket("definitions", STATE_DEFINITIONS_V1, 0)
    old = held.filter(pc.invert(pc.is_in(held.column("doc_id"),
                                         pa.array(sorted(current), pa.string()))))
    rows = []
    defining = may_define(cur_ents) if cur_ents.num_rows else set()
    if defining:
        spans: dict[tuple[str, str], list] = defaultdict(list)
        for d, r, c, s, e in zip(*(cur_ents.column(x).to_pylist() for x in (
                "doc_id", "run_id", "canonical", "start_char", "end_char"))):
            if d in defining:
                spans[(d, r)].append((s, e, c))
        by_run: dict[str, list[str]] = defaultdict(list)
        for d, r in spans:
            by_run[r].append(d)
        for run_id, doc_ids in by_run.items():
            texts = read_run_table(output, "documents", run_id, ["doc_id", "clean_text"],
                                   doc_ids=doc_ids)
            for d, text in zip(*(texts.column(x).to_pylist() for x in ("doc_id", "clean_text"))):
                for letters, canonical in find_definitions(text, spans[(d, run_id)]):
                    rows.append({"doc_id": d, "letters": letters, "canonical": canonical})
        fold.touched |= {(r["canonical"], lab) for r in rows for lab in NAME_LABELS}
    if not rows and old.num_rows == held.num_rows:
        return  # unchanged: not written again (the table grows with the corpus)
    fold.put("definitions", 0, _concat(
        [old, pa.Table.from_pylist(rows, schema=STATE_DEFINITIONS_V1)], STATE_DEFINITIONS_V1))


# --- step 3: the grouping around what was touched ---------------------------------------------


class Lookup:
    """DuckDB over the state as it will be: the snapshot's bucket files, with this fold's new
    bucket tables in place of the ones they replace."""

    def __init__(self, snapshot: state.Snapshot, fold: Fold) -> None:
        import duckdb

        self.snapshot, self.fold = snapshot, fold
        # not less: the rows of a region's facts carry their documents lists, which DuckDB
        # decodes for every name to find them (128 MB failed at 100x; 256 MB, or one thread,
        # made no difference measured above the machine's noise)
        self.con = duckdb.connect(config={"memory_limit": DUCKDB_MEMORY, "threads": 2})
        changed = fold.changes.get("names", {})
        files = [p for b, p in zip(sorted(snapshot.files.get("names", {})),
                                   snapshot.paths("names")) if b not in changed]
        self.con.register("names_fresh", _concat(list(changed.values()), STATE_NAMES_V1))
        parts = ["SELECT * FROM names_fresh"]
        if files:
            parts.append("SELECT * FROM read_parquet(" + repr(files) + ")")
        self.con.execute("CREATE VIEW names AS " + " UNION ALL ".join(parts))
        self._doc_names: dict[str, list[Key]] = {}  # doc_id -> its names, as read
        self.cached_cooccurring = functools.lru_cache(maxsize=4096)(self.cooccurring)

    def __enter__(self) -> Lookup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free DuckDB's memory now, before the fold writes (the cache's reference to this
        object's method would keep it alive until the cyclic garbage collector ran)."""
        self.cached_cooccurring.cache_clear()
        self._doc_names.clear()
        self.con.close()

    def _query(self, sql: str, **tables: pa.Table) -> pa.Table:
        for name, table in tables.items():
            self.con.register(name, table)
        try:
            return self.con.sql(sql).to_arrow_table()
        finally:
            for name in tables:
                self.con.unregister(name)

    def neighbours(self, keys: set[Key]) -> set[Key]:
        """The names (with documents) that share a grouping key with one of ``keys``."""
        # a name's keys are a function of the name (``name_keys``, what the state's ``keys``
        # column holds): computed, not read back with a scan of every name
        held = [name_keys(*key) for key in sorted(keys)]
        probes = pa.table({"k": pa.array(sorted(probe_keys(k for ks in held for k in ks)),
                                         pa.string())})
        found = self._query(
            "SELECT DISTINCT n.canonical, n.label FROM (SELECT canonical, label, "
            "unnest(keys) AS k FROM names WHERE n_documents > 0) n JOIN probes USING (k)",
            probes=probes)
        return _key_set(found) | set(keys)

    def mates(self, keys: set[Key]) -> set[Key]:
        """The names of the entities ``keys`` belong to (as the index has them now)."""
        found = self._query(
            "SELECT DISTINCT n.canonical, n.label FROM names n JOIN (SELECT DISTINCT "
            "n.entity_id FROM names n JOIN wanted USING (canonical, label)) USING (entity_id) "
            "WHERE n.n_documents > 0", wanted=_keys_table(keys))
        return _key_set(found)

    def rows(self, keys: set[Key], columns: Iterable[str] = ()) -> pa.Table:
        """The names' rows: only ``columns`` (and the key) when given, so the heavy lists
        (documents, keys) are read only where they are needed."""
        wanted = ", ".join(f"n.{c}" for c in columns) if columns else "n.*"
        if columns:
            wanted = "n.canonical, n.label, " + wanted
        return self._query(f"SELECT {wanted} FROM names n JOIN wanted USING (canonical, label)",
                           wanted=_keys_table(keys))

    def prefetch(self, names: Iterable[Name]) -> None:
        """Read, one pass over the buckets, the names of every document of ``names`` (those in
        at most ``PREFETCH_DOCUMENTS`` documents: the rare names the grouping compares by
        their co-occurring names), so that ``cooccurring`` finds them in memory."""
        wanted: dict[int, set[str]] = defaultdict(set)
        for name in names:
            if len(name.documents) <= PREFETCH_DOCUMENTS:
                for doc_id in name.documents:
                    if doc_id not in self._doc_names:
                        wanted[state.bucket_of(doc_id)].add(doc_id)
        for bucket, docs in wanted.items():
            self._load(bucket, docs)

    def _load(self, bucket: int, docs: set[str]) -> None:
        wanted = pc.field("doc_id").isin(pa.array(sorted(docs), pa.string())) & pc.field(
            "label").isin(pa.array(sorted(NAME_LABELS), pa.string()))
        # three columns, and only the documents asked for
        table = self.snapshot.read_bucket("doc_names", STATE_DOC_NAMES_V1, bucket,
                                          self.fold.changes, ["doc_id", "canonical", "label"],
                                          wanted)
        for doc_id in docs:
            self._doc_names[doc_id] = []
        for d, c, lab in zip(*(table.column(x).to_pylist()
                               for x in ("doc_id", "canonical", "label"))):
            self._doc_names[d].append((c, lab))

    def cooccurring(self, name: Name) -> frozenset[str]:
        """The other names (of ``NAME_LABELS``) in the documents of ``name``, read from the
        buckets of its documents only."""
        missing: dict[int, set[str]] = defaultdict(set)
        for doc_id in name.documents:
            if doc_id not in self._doc_names:
                missing[state.bucket_of(doc_id)].add(doc_id)
        for bucket, docs in missing.items():
            self._load(bucket, docs)
        own = (name.canonical, name.label)
        return frozenset(c for d in name.documents for c, lab in self._doc_names[d]
                         if (c, lab) != own)


def _keys_table(keys: Iterable[Key]) -> pa.Table:
    keys = list(keys)
    return pa.table({"canonical": pa.array([k[0] for k in keys], pa.string()),
                     "label": pa.array([k[1] for k in keys], pa.string())})


def _key_set(table: pa.Table) -> set[Key]:
    return set(zip(table.column("canonical").to_pylist(), table.column("label").to_pylist()))


def _regroup(snapshot: state.Snapshot, fold: Fold) -> None:
    """Step 3: decide the entities again around the touched names; write changed identities."""
    _write_identities(snapshot, fold, _changed_around(snapshot, fold))


def _changed_around(snapshot: state.Snapshot, fold: Fold) -> dict[Key, Identity]:
    """The identities that change when the entities are decided again around the touched
    names (read only: nothing is written)."""
    touched = {k for k in fold.touched if k[1] in NAME_LABELS}
    if not touched:
        return {}
    with Lookup(snapshot, fold) as lookup:
        return _decide_region(lookup, snapshot, fold, touched)


def _decide_region(lookup: Lookup, snapshot: state.Snapshot, fold: Fold, touched: set[Key]
                   ) -> dict[Key, Identity]:
    # the region: the touched names, the names they could be joined with, and their entities
    region = touched | lookup.neighbours(touched)
    region |= lookup.mates(region)
    rounds = 0
    while True:
        rounds += 1
        changed, rows, n_facts, n_adopted = _decide(lookup, snapshot, fold, region)
        # a name outside the region whose entity changes was decided on facts that were not all
        # looked up (those of its own keys): it joins the region, and the region is decided again
        outside = set(changed) - region
        if not outside:
            break
        region |= outside | lookup.mates(outside)
    fold.stats.update(region=len(region), facts=n_facts, regrouped=n_adopted, rounds=rounds)
    fold.stats["identities_changed"] = len(changed)
    return changed


def _write_identities(snapshot: state.Snapshot, fold: Fold, changed: dict[Key, Identity]
                      ) -> None:
    by_bucket: dict[int, list[Key]] = defaultdict(list)
    for key in changed:
        by_bucket[name_bucket(*key)].append(key)
    for bucket, keys in by_bucket.items():
        table = snapshot.read_bucket("names", STATE_NAMES_V1, bucket, fold.changes)
        mask = _is_key(table, keys)
        updated = [{**r, **_identity_columns(changed[(r["canonical"], r["label"])])}
                   for r in table.filter(mask).to_pylist()]
        fold.put("names", bucket, _concat(
            [table.filter(pc.invert(mask)),
             pa.Table.from_pylist(updated, schema=STATE_NAMES_V1)], STATE_NAMES_V1))


def _decide(lookup: Lookup, snapshot: state.Snapshot, fold: Fold, region: set[Key]
            ) -> tuple[dict[Key, Identity], pa.Table, int, int]:
    """The entities of the region, decided among every name sharing a key with it (and their
    whole entities): the identities that differ from the index's."""
    facts = region | lookup.neighbours(region)
    facts |= lookup.mates(facts)
    rows = lookup.rows(facts, [c for c in STATE_NAMES_V1.names
                               if c not in ("canonical", "label", "keys")])
    # in one order whatever order DuckDB's threads return them in: the grouping's evidence
    # lists its joins in the order it made them (it varied from run to run on the same state)
    rows = rows.filter(pc.greater(rows.column("n_documents"), 0)).sort_by(
        [("canonical", "ascending"), ("label", "ascending")])
    names = [Name(c, lab, nd, nm, frozenset(docs)) for c, lab, nd, nm, docs in zip(
        *(rows.column(x).to_pylist() for x in ("canonical", "label", "n_documents",
                                                "n_mentions", "documents")))]
    defined = _defined(snapshot, fold, {n.canonical for n in names})
    if fold.draft is None:  # a rebuild's region is most names: their documents, every one
        lookup.prefetch(names)  # one pass over the buckets beats a read per name asked about
    identity = group_names(names, NAME_LABELS, defined, lookup.cached_cooccurring,
                           lookup.prefetch)
    adopted_ids = {identity[k].entity_id for k in region if k in identity}
    adopt = {k: v for k, v in identity.items() if v.entity_id in adopted_ids}
    old = {(c, lab): (e, ec, el, tuple(a), m, g) for c, lab, e, ec, el, a, m, g in zip(
        *(rows.column(x).to_pylist() for x in (
            "canonical", "label", "entity_id", "entity_canonical", "entity_label", "aliases",
            "merge_evidence", "grouping_version")))}
    changed = {k: v for k, v in adopt.items()
               if old.get(k) != (v.entity_id, v.entity_canonical, v.entity_label, v.aliases,
                                 v.merge_evidence, GROUPING_RELEASE)}
    return changed, rows, len(names), len(adopt)


def _defined(snapshot: state.Snapshot, fold: Fold, canonicals: set[str]
             ) -> dict[tuple[str, str], frozenset[str]]:
    table = snapshot.read_bucket("definitions", STATE_DEFINITIONS_V1, 0, fold.changes)
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for d, letters, c in zip(*(table.column(x).to_pylist()
                               for x in ("doc_id", "letters", "canonical"))):
        if c in canonicals:
            out[(letters, c)].add(d)
    return {k: frozenset(v) for k, v in out.items()}


# --- step 4: the published index ----------------------------------------------------------------


def _index_parts(snapshot: state.Snapshot) -> Iterator[pa.Table]:
    for bucket in sorted(snapshot.files.get("names", {})):
        # the index's columns only: the documents and keys lists are most of a bucket's bytes
        table = snapshot.read("names", STATE_NAMES_V1, [bucket], columns=ENTITY_INDEX_V3.names)
        table = table.filter(pc.greater(table.column("n_documents"), 0))
        if table.num_rows:
            yield table.sort_by(
                [("n_mentions", "descending"), ("canonical", "ascending"),
                 ("label", "ascending")])


def write_index(snapshot: state.Snapshot) -> str:
    """``entity_index/index.parquet`` from the snapshot's names, one bucket at a time."""
    loc = snapshot.loc
    atomic.write_parquet_stream(loc, ENTITY_INDEX, ENTITY_INDEX_V3, _index_parts(snapshot))
    return loc.show(ENTITY_INDEX)


# --- the commands -----------------------------------------------------------------------------


def update_entity_index(output: str) -> dict:
    """Fold every published run not yet folded into the state, then publish the index. Call it
    under the output's lock. Returns what it did (runs, names touched, seconds)."""
    with _system_allocator():
        return _update(output)


@contextlib.contextmanager
def _system_allocator() -> Iterator[None]:
    """Arrow's buffers from the C library's allocator while a fold or a rebuild runs. Arrow's
    default (mimalloc) keeps what a step frees for the thread that freed it, so each step's
    peak added to the last: the fold into the 10x bench output took ~90 MB more peak memory
    so (0.1 s slower, within the noise), the 10x rebuild 1,061 MB instead of 859
    (docs/benchmarks.md, "The fold's memory"). Process-wide while it lasts: the flow folds
    after its batches are done, and a buffer is freed by the pool that made it."""
    before = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(before)


def _update(output: str) -> dict:
    snapshot = state.load(output)
    runs = pending_runs(output, snapshot)
    report: dict = {"runs_folded": len(runs)}
    if snapshot.facts.get("grouping", GROUPING_RELEASE) != GROUPING_RELEASE:
        log.warning("the entity index was grouped by release %s, this is %s: rows this run "
                    "touches are regrouped, the rest keep theirs (grouping_version says which); "
                    "run `python -m tasks.entities.index --output %s --rebuild` to regroup all",
                    snapshot.facts.get("grouping"), GROUPING_RELEASE, output)
    if not runs:
        if not atomic.exists(snapshot.loc, snapshot.loc.path(ENTITY_INDEX)):
            write_index(snapshot)
        return report
    fold = fold_runs(output, snapshot, runs)
    report.update(fold.stats)
    new = _commit(snapshot, fold, runs, publish=bool(fold.touched)
                  or not atomic.exists(snapshot.loc, snapshot.loc.path(ENTITY_INDEX)))
    report["names"] = sum(1 for _ in new.files.get("names", {}))
    return report


def _commit(snapshot: state.Snapshot, fold: Fold, runs: list[str], publish: bool
            ) -> state.Snapshot:
    # the index is written from the state as it will be, before the manifest says so: a run
    # that dies between the two folds the same runs again and writes the same index
    staged = state.stage(snapshot, fold.changes)
    if publish:
        write_index(staged)
    return state.commit(snapshot, staged, runs, {"grouping": GROUPING_RELEASE})


def rebuild_entity_index(output: str, max_documents: int = REBUILD_DOCUMENTS,
                         group_names_at_once: int = GROUP_NAMES,
                         dask_address: str | None = None) -> dict:
    """The state and the index from the published tables alone, every entity decided by this
    release, in memory bounded by the work at hand, not the corpus: the runs are folded a few
    at a time (about ``max_documents`` documents), each new bucket table written at once into
    a draft snapshot; then the entities are decided a part of the names at a time: whole
    components of the graph of the names that share a grouping key, packed into parts of about
    ``group_names_at_once`` names (a component is never split: nothing outside it is compared
    with its names, so the parts are independent: with ``dask_address`` they are decided on
    that Dask cluster's workers, a part per task, each reading the draft where it is). The
    draft becomes the state in one commit, after the index is written from it: a rebuild that
    dies leaves the state and the index as they were."""
    with _system_allocator():
        return _rebuild(output, max_documents, group_names_at_once, dask_address)


def _rebuild(output: str, max_documents: int, group_names_at_once: int,
             dask_address: str | None) -> dict:
    started = time.perf_counter()
    current = state.load(output)
    draft = state.Draft(location(output))
    runs = published_runs(output)
    chunks = list(_chunks(output, runs, max_documents))
    for i, chunk in enumerate(chunks):
        fold_runs(output, draft, chunk, Fold(draft=draft), regroup=False)
        failpoint("rebuild")
        log.info("rebuild: folded %d of %d chunks (%d runs)", i + 1, len(chunks), len(chunk))
    folded = time.perf_counter()
    parts = _parts(draft, group_names_at_once)
    for i, changed in enumerate(_decided_parts(output, draft, parts, dask_address)):
        _write_identities(draft, Fold(draft=draft), changed)
        failpoint("rebuild")
        log.info("rebuild: grouped %d of %d parts (%d identities changed)", i + 1, len(parts),
                 len(changed))
    write_index(draft)
    state.commit(current, draft, runs, {"grouping": GROUPING_RELEASE}, replace=True)
    done = time.perf_counter()
    return {"runs": len(runs), "chunks": len(chunks), "group_parts": len(parts),
            "fold_seconds": round(folded - started, 1),
            "group_seconds": round(done - folded, 1), "seconds": done - started}


def decide_part(output: str, files: dict[str, dict[int, str]], part: set[Key]
                ) -> dict[Key, Identity]:
    """A rebuild's part, decided where it runs (a Dask worker): the identities that change,
    read from the draft whose bucket files are ``files``."""
    draft = state.Draft(location(output), {t: dict(b) for t, b in files.items()})
    return _changed_around(draft, Fold(draft=draft, touched=part))


def _decided_parts(output: str, draft: state.Draft, parts: list[set[Key]],
                   dask_address: str | None) -> Iterator[dict[Key, Identity]]:
    """Each part's changed identities, in this process one part after another, or on the Dask
    cluster at ``dask_address`` (as they complete; the draft's files the workers read are kept
    until every part is decided)."""
    if not dask_address:
        for part in parts:
            yield _changed_around(draft, Fold(draft=draft, touched=part))
        return
    from distributed import Client, as_completed

    files = {t: dict(b) for t, b in draft.files.items()}
    draft.keep_replaced = True
    try:
        with Client(dask_address, timeout="60s") as client:
            futures = [client.submit(decide_part, output, files, part, pure=False)
                       for part in parts]
            for future in as_completed(futures):
                yield future.result()
                future.release()
    finally:
        draft.keep_replaced = False
        draft.collect()


def _parts(snapshot: state.Snapshot, size: int) -> list[set[Key]]:
    """The names to group (of ``NAME_LABELS``, in a document), in parts of whole connected
    components of the names' key graph (two names are linked when one's probe keys meet the
    other's keys; linked through a key node, so a little coarser), each part about ``size``
    names or one component. Components are found in DuckDB (the edges) and numpy (label
    propagation over integer arrays): O(names) integers, not the names' objects."""
    import duckdb
    import numpy as np

    files = snapshot.paths("names")
    if not files:
        return []
    con = duckdb.connect(config={"memory_limit": DUCKDB_MEMORY, "threads": 2})
    labels = pa.table({"label": pa.array(sorted(NAME_LABELS), pa.string())})
    con.register("labels", labels)
    con.execute("CREATE TEMP TABLE n AS SELECT row_number() OVER () - 1 AS id, canonical, "
                f"label, keys FROM read_parquet({files!r}) WHERE n_documents > 0 "
                "AND label IN (SELECT label FROM labels)")
    con.execute("CREATE TEMP TABLE k AS SELECT id, unnest(keys) AS k FROM n")
    # a name's probe keys (PROBES, so the graph and the lookups cannot drift apart)
    con.register("probes", pa.table({"kind": [k for k, to in PROBES.items() for _ in to],
                                     "probe": [c for to in PROBES.values() for c in to]}))
    con.execute("CREATE TEMP TABLE p AS SELECT id, coalesce(probe, left(k, 1)) || substr(k, 2) "
                "AS k FROM k LEFT JOIN probes ON left(k, 1) = kind")
    con.execute("CREATE TEMP TABLE nodes AS SELECT k, row_number() OVER () - 1 AS node FROM "
                "(SELECT DISTINCT k FROM p SEMI JOIN k USING (k))")
    edges = con.sql("SELECT id, node FROM (SELECT id, k FROM k UNION SELECT id, k FROM p) "
                    "JOIN nodes USING (k)").fetchnumpy()
    names = con.sql("SELECT canonical, label FROM n ORDER BY id").to_arrow_table()
    con.close()
    a = np.asarray(edges["id"], dtype=np.int64)
    b = np.asarray(edges["node"], dtype=np.int64)
    n = names.num_rows
    component = np.arange(n, dtype=np.int64)
    if len(a):
        at_node = np.full(int(b.max()) + 1, n, dtype=np.int64)
        while True:  # each name and key node takes the least label it is linked to
            np.minimum.at(at_node, b, component[a])
            new = component.copy()
            np.minimum.at(new, a, at_node[b])
            if np.array_equal(new, component):
                break
            component = new
    order = np.argsort(component, kind="stable")
    bounds = np.flatnonzero(np.diff(component[order])) + 1
    canonical, label = names.column("canonical").to_pylist(), names.column("label").to_pylist()
    parts: list[set[Key]] = []
    part: set[Key] = set()
    for members in np.split(order, bounds):
        if part and len(part) + len(members) > size:
            parts.append(part)
            part = set()
        part |= {(canonical[i], label[i]) for i in members.tolist()}
    if part:
        parts.append(part)
    return parts


def _chunks(output: str, runs: list[str], max_documents: int) -> Iterator[list[str]]:
    loc = location(output)
    chunk: list[str] = []
    size = 0
    for run_id in runs:
        n = count_run_rows(loc, "documents", run_id)
        if chunk and size + n > max_documents:
            yield chunk
            chunk, size = [], 0
        chunk.append(run_id)
        size += n
    if chunk:
        yield chunk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tasks.entities.index",
        description="Fold published runs into the output's entity index, or rebuild it.")
    parser.add_argument("--output", required=True, help="the output folder or s3://bucket/prefix")
    parser.add_argument("--rebuild", action="store_true",
                        help="rebuild the state and the index from the tables (a new grouping "
                             "release), in bounded memory")
    parser.add_argument("--max-documents", type=int, default=REBUILD_DOCUMENTS,
                        help="documents folded at a time by --rebuild (its memory bound)")
    parser.add_argument("--group-names", type=int, default=GROUP_NAMES,
                        help="names --rebuild decides the entities of at a time (whole "
                             "components of names that share a grouping key)")
    parser.add_argument("--dask-address", default=None,
                        help="a Dask scheduler (tcp://host:port): --rebuild decides its parts "
                             "on that cluster's workers, which must reach the output")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with output_lock(args.output):
        done = (rebuild_entity_index(args.output, args.max_documents, args.group_names,
                                     args.dask_address)
                if args.rebuild
                else update_entity_index(args.output))
    print(done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
