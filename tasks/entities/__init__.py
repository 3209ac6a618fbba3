"""Entities: one label and canonical per name in a document (``document``), one identity per name
across the corpus (``groups``, with the shipped ``exonyms.txt``) and the corpus's entity index
that each run keeps up to date (``index``; ``python -m tasks.entities.index --rebuild``).

The per-document names are importable from here; the index and the grouping by their modules
(a worker annotating a batch never loads the index).
"""

from tasks.entities.document import (
    NAME_LABELS,
    RULER_ID,
    Mention,
    build_entity_index,
    consistent_entities,
    may_define,
    surface,
)

__all__ = [
    "NAME_LABELS",
    "RULER_ID",
    "Mention",
    "build_entity_index",
    "consistent_entities",
    "may_define",
    "surface",
]
