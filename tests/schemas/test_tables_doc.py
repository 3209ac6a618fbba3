"""docs/tables.md is what schemas/doc.py renders from the schemas: it cannot drift."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from schemas import doc
from schemas.tables import TABLES

ROOT = Path(__file__).resolve().parents[2]


def test_committed_tables_doc_is_the_generators_output() -> None:
    committed = (ROOT / doc.DOC).read_text(encoding="utf-8")
    assert committed == doc.render(), "docs/tables.md is out of date: run python -m schemas.doc"


def test_every_published_column_is_described_once_and_nothing_else() -> None:
    assert set(doc.COLUMNS) == set(doc.ROWS) == set(TABLES)
    for name, schema in TABLES.items():
        assert list(doc.COLUMNS[name]) == schema.names, name  # in the schema's order


def test_each_column_row_states_type_nullability_and_the_version_that_added_it() -> None:
    text = doc.render()
    assert "| `reason` | `string` | no | v2 |" in text  # edits v2
    assert "| `grouping_version` | `string` | no | v3 |" in text  # entity_index v3
    assert "| `external_id` | `string` | yes | v1 |" in text
    assert "## `entity_index` (v3)" in text and "## `edits` (v2)" in text


def test_a_schema_change_without_its_description_fails_loudly(monkeypatch) -> None:
    changed = {**TABLES, "flags": TABLES["flags"].append(pa.field("severity", pa.string()))}
    monkeypatch.setattr(doc.tables, "TABLES", changed)
    with pytest.raises(KeyError, match="flags: no description for severity"):
        doc.render()


def test_check_mode(tmp_path) -> None:
    path = tmp_path / "tables.md"
    assert doc.main(["--check", str(path)]) == 1  # missing
    assert doc.main([str(path)]) == 0
    assert doc.main(["--check", str(path)]) == 0
    path.write_text(path.read_text() + "edited by hand\n")
    assert doc.main(["--check", str(path)]) == 1
