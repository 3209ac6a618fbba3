"""The tables as Prefect assets: each published batch materializes the tables it wrote, so a
run's lineage (which flow run wrote which table, with how many rows) shows in Prefect.

An asset's key is the table's location: ``file:///abs/output/documents`` or
``s3://bucket/prefix/documents``; never a credential (those are not part of an output's name).
"""

from __future__ import annotations

import functools
import logging
import os

from prefect.assets import Asset, add_asset_metadata
from prefect.assets.core import AssetProperties

from schemas.tables import TABLES
from store.layout import Location, location

log = logging.getLogger(__name__)


def table_asset(output: str | os.PathLike[str] | Location, name: str) -> Asset:
    loc = location(output)
    key = f"file://{loc.path(name)}" if loc.local else f"s3://{loc.path(name)}"
    version = (TABLES[name].metadata or {}).get(b"schema_version", b"?").decode()
    return Asset(key=key, properties=AssetProperties(
        name=name, description=f"mtclean table `{name}` (schema v{version}): "
        f"{', '.join(TABLES[name].names)}"))


@functools.lru_cache(maxsize=64)
def batch_assets(output: str, tables: tuple[str, ...]) -> tuple[Asset, ...]:
    """The assets a batch that wrote ``tables`` materializes (none if a key is not a valid
    URI, e.g. an odd character in a local path: lineage is a view, never a reason to fail)."""
    try:
        return tuple(table_asset(output, name) for name in tables)
    except ValueError as exc:
        log.warning("tables of %s are not recorded as Prefect assets: %s", output, exc)
        return ()


def record_rows(assets: tuple[Asset, ...], rows: dict[str, int], run_id: str) -> None:
    """Metadata of this materialization: the run and the rows it added to each table."""
    for asset in assets:
        name = asset.properties.name if asset.properties else None
        add_asset_metadata(asset, {"run_id": run_id, "rows": rows.get(name or "", 0)})
