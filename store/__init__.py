"""The store: the only code that knows where the tables are and how they are written.

- ``layout``: an output (a folder or ``s3://bucket/prefix``) and the paths inside it;
- ``atomic``: writes a reader never sees half done (local: aside, fsync, rename; S3: one PUT);
- ``commit``: stage a batch, mark it committed, publish it, recover what a dead run left;
- ``lock``: one run at a time on an output (flock locally, a lease with an expiry on S3);
- ``read``: tables by name, what is published, the current version of every document;
- ``views.sql``: the same current view for DuckDB.
"""

from store.atomic import write_parquet, write_text
from store.commit import (
    Staged,
    ensure_tables,
    publish_batch,
    publish_staged,
    recover,
    stage_batch,
    write_run,
)
from store.layout import (
    ENTITY_INDEX,
    READY,
    STAGING,
    Location,
    OutputNotWritable,
    check_output,
    location,
)
from store.lock import LeaseLost, output_lock
from store.read import (
    Published,
    PublishedLookup,
    current,
    current_versions,
    published_counts,
    published_ids,
    read_run_table,
    read_table,
    table_dataset,
    views_sql,
)

__all__ = [
    "ENTITY_INDEX", "READY", "STAGING", "LeaseLost", "Location", "OutputNotWritable",
    "Published", "PublishedLookup", "Staged", "check_output", "current", "current_versions", "ensure_tables",
    "location", "output_lock", "publish_batch", "publish_staged", "published_counts",
    "published_ids", "read_run_table", "read_table", "recover", "stage_batch", "table_dataset",
    "views_sql", "write_parquet", "write_run", "write_text",
]
