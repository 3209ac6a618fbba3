from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from schemas.tables import BATCH_TABLES, TABLES


def _value(field: pa.Field, i: int):
    t = field.type
    if pa.types.is_string(t):
        return f"{field.name}-{i}-é✓"
    if pa.types.is_integer(t):
        return i * 7
    if pa.types.is_boolean(t):
        return i % 2 == 0
    if pa.types.is_timestamp(t):
        return datetime(2026, 11, 28, 7, 30, i, tzinfo=UTC)
    if pa.types.is_list(t) and pa.types.is_string(t.value_type):
        return [f"{field.name}-{i}-{k}-é✓" for k in range(i)]  # an empty list too
    raise AssertionError(f"no sample value for {t}")


@pytest.mark.parametrize("name", sorted(TABLES))
def test_round_trip(name: str, tmp_path) -> None:
    schema = TABLES[name]
    rows = [{f.name: _value(f, i) for f in schema} for i in range(3)]
    table = pa.Table.from_pylist(rows, schema=schema)
    part = tmp_path / name / "run_id=r1" / "part-000000.parquet"
    part.parent.mkdir(parents=True)
    pq.write_table(table, part, compression="zstd")

    back = pq.read_table(part, schema=schema)
    assert back.schema.equals(schema, check_metadata=True)
    assert back.to_pylist() == rows
    assert back.schema.metadata[b"schema_version"] in (b"1", b"2", b"3")

    # readable as a hive-partitioned dataset by pyarrow and by DuckDB
    dataset = ds.dataset(tmp_path / name, format="parquet", partitioning="hive")
    assert dataset.to_table().num_rows == 3
    n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{tmp_path}/{name}/**/*.parquet', "
                   "hive_partitioning=true)").fetchall()[0][0]
    assert n == 3


def test_contract_columns_present() -> None:
    """Columns users' queries depend on (the issue's contract) are all there."""
    contract = {
        "documents": "doc_id source raw_text clean_text n_edits n_flags n_entities run_id "
                     "processed_at model",
        "edits": "doc_id edit_index rule raw_start raw_end clean_start clean_end before after",
        "flags": "doc_id rule raw_start raw_end clean_start clean_end text message",
        "sentences": "doc_id sent_index start_char end_char text",
        "entities": "doc_id ent_index sent_index start_char end_char raw_start raw_end text label",
        "rejects": "source reason detail run_id",
        "runs": "run_id flow_run_id started_at finished_at source parameters counts status",
        "sightings": "doc_id source path row first_source run_id",
    }
    for table, columns in contract.items():
        assert set(columns.split()) <= set(TABLES[table].names), table
    assert BATCH_TABLES[-1] == "documents"


@pytest.mark.parametrize("table,latest", [("edits", 2), ("entity_index", 3)])
def test_a_new_version_only_adds_columns(table: str, latest: int) -> None:
    """Each version of a table keeps every column of the one before, with its type and
    nullability, in its place; the contract is the latest."""
    import schemas.tables as tables

    for n in range(2, latest + 1):
        old, new = (getattr(tables, f"{table.upper()}_V{k}") for k in (n - 1, n))
        assert new.names[:len(old)] == old.names
        assert all(new.field(f.name).type == f.type and new.field(f.name).nullable == f.nullable
                   for f in old)
        assert new.metadata == {b"schema_version": str(n).encode(), b"table": table.encode()}
    assert TABLES[table] is getattr(tables, f"{table.upper()}_V{latest}")


def test_entity_index_v3_adds_the_grouping_release() -> None:
    from schemas.tables import ENTITY_INDEX_V2, ENTITY_INDEX_V3

    assert ENTITY_INDEX_V3.names == [*ENTITY_INDEX_V2.names, "grouping_version"]


def test_entity_index_v2_columns() -> None:
    from schemas.tables import ENTITY_INDEX_V1, ENTITY_INDEX_V2

    assert ENTITY_INDEX_V2.names == [*ENTITY_INDEX_V1.names, "entity_id", "entity_canonical",
                                     "entity_label", "aliases", "merge_evidence"]
    assert ENTITY_INDEX_V2.field("aliases").type == pa.list_(pa.field("element", pa.string()))


def test_cleaned_is_incoming_plus_what_the_cleaner_adds() -> None:
    from schemas.tables import CLEANED_V1, INCOMING_V1

    assert CLEANED_V1.names == [*INCOMING_V1.names, "clean_text", "n_edits", "n_flags"]
    assert CLEANED_V1.metadata == {b"schema_version": b"1", b"table": b"cleaned"}
    assert "cleaned" not in TABLES  # internal: between cleaning and annotation, not published
