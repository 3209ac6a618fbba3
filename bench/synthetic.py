"""Synthetic published outputs: the real tables' schemas, written directly (no flow run), with a
news-like distribution of names, for the growth benchmark and the index's tests.

Each document mentions a handful of entities drawn by a Zipf law from a pool that grows with
the corpus (new names keep appearing, as in news): people ("Odra Velnik", later "Velnik"
alone, sometimes spelled "Velnyk"), organisations with their acronyms (sometimes defined in the
text: "the Tarvo Grain Agency (TGA)"), places, a few exonym pairs (Kiev / Kyiv). Names are
made of syllables, so no real text is copied. Files are written as a run would: one per batch
of ``batch_size`` documents and table, under ``<table>/run_id=<run>/part-<batch>.parquet``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.tables import TABLES

SYLLABLES = ["ka", "ro", "vel", "ni", "dra", "mo", "sen", "ta", "lu", "vik", "or", "bre", "zan",
             "hol", "mi", "ter", "sa", "gun", "de", "fal", "ri", "yen", "pa", "dor", "ul",
             "kes", "tro", "am", "bel", "nor"]
ORG_WORDS = ["Agency", "Council", "Union", "Bank", "Party", "Ministry", "Institute", "Company",
             "Authority", "Front"]
EXONYMS = [("Kyiv", "Kiev"), ("Kharkiv", "Kharkov"), ("Beijing", "Peking"), ("Mumbai", "Bombay")]
FILLER = ("The statement was published late on Tuesday and officials declined to comment "
          "further on the details of the agreement reached after several rounds of talks. ")


def _word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


@dataclass
class Entity:
    forms: list[str]  # the full form first
    label: str
    acronym: str | None = None


class Pool:
    """Entities drawn by a Zipf law; the pool grows as documents are drawn (Heaps' law)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.entities: list[Entity] = [Entity([a, b], "GPE") for a, b in EXONYMS]
        self.draws = 0

    def _new(self) -> Entity:
        rng = self.rng
        kind = rng.random()
        if kind < 0.5:
            first, last = _word(rng, 2), _word(rng, rng.choice((2, 3)))
            forms = [f"{first} {last}", last]
            if "i" in last and rng.random() < 0.2:
                forms.append(last.replace("i", "y", 1))  # a romanisation of the surname
            return Entity(forms, "PERSON")
        if kind < 0.75:
            words = [_word(rng, 2), _word(rng, 2), rng.choice(ORG_WORDS)]
            name = " ".join(words)
            acronym = "".join(w[0] for w in words)
            return Entity([name, acronym] if rng.random() < 0.5 else [name], "ORG", acronym)
        return Entity([_word(rng, rng.choice((2, 3)))], rng.choice(("GPE", "GPE", "LOC", "NORP")))

    def draw(self) -> Entity:
        # Heaps' law: after N draws about 50 * N ** 0.6 distinct entities (new names keep
        # coming, ever more rarely), ~30k in the 12 MB corpus's 7,400 documents
        self.draws += 1
        if self.rng.random() < min(0.9, 30 * self.draws ** -0.4) or not self.entities:
            self.entities.append(self._new())
            return self.entities[-1]
        n = len(self.entities)
        rank = min(int(self.rng.paretovariate(0.9)) - 1, n - 1)
        return self.entities[(n - 1 - rank) if self.rng.random() < 0.3 else rank]


def document(rng: random.Random, pool: Pool, n: int) -> tuple[str, list[tuple[int, int, str,
                                                                                 str]]]:
    """A text and its entity mentions (start, end, text, label), about 1.6 KB (the 12 MB
    bench corpus's 7,400 documents)."""
    parts: list[str] = []
    mentions: list[tuple[int, int, str, str]] = []
    size = 0

    def put(text: str, label: str | None = None) -> None:
        nonlocal size
        if label:
            mentions.append((size, size + len(text), text, label))
        parts.append(text)
        size += len(text)

    put(f"Report {n}. ")
    for _ in range(rng.randint(4, 8)):
        e = pool.draw()
        put(e.forms[0], e.label)
        if e.acronym and len(e.forms) > 1 and rng.random() < 0.5:
            put(" (")
            put(e.acronym, e.label)
            put(")")
        put(" was mentioned again. ")
        for form in e.forms[1:]:
            if rng.random() < 0.5:
                put("Later ")
                put(form, e.label)
                put(" said so. ")
        put(FILLER[: rng.randint(60, len(FILLER))])
    put(FILLER * 4)
    return "".join(parts), mentions


def write_output(out: Path, documents: int, runs: int, seed: int = 7,
                 batch_size: int = 256) -> dict:
    """Write ``documents`` documents published by ``runs`` runs into ``out``. Returns sizes."""
    rng = random.Random(seed)
    pool = Pool(rng)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    per_run = -(-documents // runs)
    text_bytes = n_entities = 0
    n = 0
    for r in range(runs):
        run_id = f"r{(start + timedelta(days=r)):%Y%m%dT%H%M%S}-synth{r:04d}"
        at = start + timedelta(days=r)
        count = min(per_run, documents - n)
        for b in range(0, count, batch_size):
            rows: dict[str, list[dict]] = {"documents": [], "entities": [], "sentences": [],
                                           "sightings": []}
            for _ in range(min(batch_size, count - b)):
                text, mentions = document(rng, pool, n)
                doc_id = hashlib.sha256(text.encode()).hexdigest()
                source = f"/data/nightly/{r:04d}/article-{n:07d}.txt"
                text_bytes += len(text)
                n_entities += len(mentions)
                rows["documents"].append({
                    "doc_id": doc_id, "source": source, "external_id": None, "raw_text": text,
                    "clean_text": text, "encoding": "utf-8", "encoding_detected": False,
                    "metadata": None, "n_edits": 0, "n_flags": 0, "n_sentences": 1,
                    "n_entities": len(mentions), "cleaner_version": "synthetic",
                    "model": "synthetic", "run_id": run_id, "processed_at": at})
                rows["sentences"].append({"doc_id": doc_id, "sent_index": 0, "start_char": 0,
                                          "end_char": len(text), "text": text,
                                          "run_id": run_id})
                rows["sightings"].append({"doc_id": doc_id, "source": source,
                                          "path": source, "row": None, "first_source": source,
                                          "cleaner_version": "synthetic", "model": "synthetic",
                                          "run_id": run_id, "seen_at": at})
                for i, (s, e, t, label) in enumerate(mentions):
                    rows["entities"].append({
                        "doc_id": doc_id, "ent_index": i, "sent_index": 0, "start_char": s,
                        "end_char": e, "raw_start": s, "raw_end": e, "text": t, "label": label,
                        "model_label": label, "canonical": t, "source": "model",
                        "run_id": run_id})
                n += 1
            for name, table_rows in rows.items():
                path = out / name / f"run_id={run_id}" / f"part-{b // batch_size:06d}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(pa.Table.from_pylist(table_rows, schema=TABLES[name]), path,
                               compression="zstd")
        for name in ("edits", "flags", "rejects"):
            path = out / name / f"run_id={run_id}" / "part-empty.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(TABLES[name].empty_table(), path)
        runs_path = out / "runs" / f"run_id={run_id}" / "part-000000.parquet"
        runs_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist([{
            "run_id": run_id, "flow_run_id": None, "started_at": at, "finished_at": at,
            "source": "/data/nightly", "parameters": "{}", "counts": "{}",
            "status": "completed", "message": None, "cleaner_version": "synthetic",
            "model": "synthetic"}], schema=TABLES["runs"]), runs_path)
    return {"documents": n, "runs": runs, "text_bytes": text_bytes, "entities": n_entities,
            "distinct_entities": len(pool.entities)}
