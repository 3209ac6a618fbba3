"""Readers never trip: every table exists with its contract's schema after every run, and the
current view gives one row per document however many versions the tables hold."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from flows.preprocess import preprocess
from schemas.tables import TABLES
from store import current, current_versions, views_sql

pytestmark = pytest.mark.usefixtures("prefect_harness")

CLEAN = ["Minister Ana Ruiz visited Lima on Monday.", "The talks in Oslo covered trade."]


def corpus(folder: Path, texts: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(texts):
        (folder / f"{i:02d}.txt").write_text(text + "\n")
    return folder


def read_everywhere(out: Path, table: str) -> dict[str, list[str]]:
    """The table's columns as DuckDB, pyarrow and Polars read it with the README's glob."""
    glob = f"{out}/{table}/**/*.parquet"
    con = duckdb.connect()
    by_duckdb = [d[0] for d in con.execute(
        f"DESCRIBE SELECT * FROM read_parquet('{glob}', hive_partitioning = true)").fetchall()]
    by_arrow = ds.dataset(out / table, format="parquet", partitioning="hive").schema.names
    by_polars = pl.scan_parquet(glob, hive_partitioning=True).collect_schema().names()
    return {"duckdb": by_duckdb, "pyarrow": by_arrow, "polars": by_polars}


def test_every_table_is_readable_after_a_run_that_wrote_no_rows_to_it(tmp_path) -> None:
    src, out = corpus(tmp_path / "in", CLEAN), tmp_path / "out"
    first = preprocess(source=str(src), output=str(out), runner="thread")
    assert (first["flags"], first["rejects"], first["edits"]) == (0, 0, 0)
    second = preprocess(source=str(src), output=str(out), runner="thread")  # writes no rows
    assert second["documents"] == 0 and second["skipped"] == 2
    for table, schema in TABLES.items():
        names = read_everywhere(out, table)
        assert set(names["pyarrow"]) == set(schema.names), table
        assert set(names["duckdb"]) == set(names["polars"]) == set(schema.names), (table, names)
    # a table a run wrote nothing to has that run's partition, empty, with the same schema
    for run_id in (first["run_id"], second["run_id"]):
        part = out / "flags" / f"run_id={run_id}" / "part-empty.parquet"
        assert ds.dataset(part, format="parquet").schema.remove_metadata() == (
            TABLES["flags"].remove_metadata())
    empty = pa.Table.from_batches(ds.dataset(out / "flags", format="parquet",
                                             partitioning="hive").to_batches())
    assert empty.num_rows == 0
    assert duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{out}/rejects/**/*.parquet', "
                      "hive_partitioning = true)").fetchone() == (0,)


def test_current_view_gives_each_document_once_with_its_latest_versions_rows(tmp_path) -> None:
    texts = ["Minister Ana Ruiz visited Lima on day 1 , officials said.",
             "The the talks in Oslo covered trade and energy."]
    src, out = corpus(tmp_path / "in", texts), tmp_path / "out"
    first = preprocess(source=str(src), output=str(out), runner="thread")
    again = preprocess(source=str(src), output=str(out), runner="thread", reprocess=True)
    every = ds.dataset(out / "documents", format="parquet", partitioning="hive").to_table()
    assert every.num_rows == 4  # one row per document per version: counts would double

    docs = current(out)
    assert docs.num_rows == 2 and sorted(docs.column("run_id").to_pylist()) == [
        again["run_id"]] * 2
    assert docs.schema.names == TABLES["documents"].names
    assert current_versions(out).num_rows == 2
    edits = current(out, "edits")
    assert set(edits.column("run_id").to_pylist()) == {again["run_id"]}
    assert edits.num_rows == again["edits"] == first["edits"] > 0
    for child in ("sentences", "entities"):
        assert current(out, child).num_rows == again[child], child

    con = duckdb.connect()
    con.execute(views_sql(out))
    assert con.execute("SELECT count(*), count(DISTINCT doc_id) FROM current_documents").fetchone() \
        == (2, 2)
    assert con.execute("SELECT count(*) FROM documents_all").fetchone() == (4,)
    for child in ("edits", "sentences", "entities", "flags"):
        (n,) = con.execute(f"SELECT count(*) FROM current_{child}").fetchone()
        assert n == current(out, child).num_rows, child
    (latest,) = con.execute("SELECT DISTINCT run_id FROM current_documents").fetchone()
    assert latest == again["run_id"]


def test_current_view_names_the_tables_it_has(tmp_path) -> None:
    with pytest.raises(ValueError, match="choose documents, edits, flags, sentences, entities"):
        current(tmp_path, "runs")
    assert current(tmp_path).num_rows == 0  # nothing published yet: empty, with the schema
