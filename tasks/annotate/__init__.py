"""Annotate: spaCy over a cleaned batch -> sentences and named entities, offsets in both texts.

``spacy_pass`` is the pass (``annotate_documents``), ``casing`` re-cases ALL-CAPS headlines and
datelines for the model. The model's names and loading (``tasks.models``, shared with the
cleaner's tagger) are importable from here too.
"""

from tasks.annotate.spacy_pass import annotate_documents, mentions_of
from tasks.models import (
    DEFAULT_MODEL,
    EntityPatterns,
    ModelNotFound,
    load_patterns,
    load_pipeline,
    model_version,
    read_entity_patterns,
)

__all__ = [
    "DEFAULT_MODEL",
    "EntityPatterns",
    "ModelNotFound",
    "annotate_documents",
    "load_patterns",
    "load_pipeline",
    "mentions_of",
    "model_version",
    "read_entity_patterns",
]
