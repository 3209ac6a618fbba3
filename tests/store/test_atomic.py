"""store/atomic: the index's stream writer reads its next part while it writes this one."""

from __future__ import annotations

import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from store import atomic
from store.layout import location


def test_one_ahead_keeps_the_order_and_makes_the_next_item_in_another_thread() -> None:
    made_in: list[str] = []

    def items():
        for i in range(5):
            made_in.append(threading.current_thread().name)
            yield i

    assert list(atomic.one_ahead(items())) == [0, 1, 2, 3, 4]
    assert all(name.startswith("one-ahead") for name in made_in)
    assert list(atomic.one_ahead([])) == []


def test_a_part_that_fails_leaves_no_file_and_the_old_one_whole(tmp_path) -> None:
    loc = location(str(tmp_path))
    schema = pa.schema([pa.field("n", pa.int64())])
    atomic.write_parquet_stream(loc, "t/index.parquet", schema,
                                (pa.table({"n": [i]}, schema=schema) for i in range(3)))
    assert pq.read_table(tmp_path / "t" / "index.parquet").column("n").to_pylist() == [0, 1, 2]

    def broken():
        yield pa.table({"n": [7]}, schema=schema)
        raise OSError("a bucket file could not be read")

    with pytest.raises(OSError, match="could not be read"):
        atomic.write_parquet_stream(loc, "t/index.parquet", schema, broken())
    assert pq.read_table(tmp_path / "t" / "index.parquet").column("n").to_pylist() == [0, 1, 2]
    assert not [p for p in (tmp_path / "_staging").rglob("*") if p.is_file()]
