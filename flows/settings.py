"""A run's settings, said once: name, type, default, limits and help of every setting.

Everything else is generated from ``RunSettings``:
- the flow's parameters (``flat_parameters``): Prefect shows them as typed fields in the UI,
  validates ``-p`` values and deployment parameters against the same limits, and deployments
  keep their flat names (``-p source=... -p workers=2``);
- the command line (``command_line``): ``--batch-size`` for ``batch_size``, choices from
  ``Literal`` types, switches for booleans;
- the runs row (``RunSettings.model_dump_json``).
"""

from __future__ import annotations

import argparse
import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from tasks.annotate import DEFAULT_MODEL
from tasks.ingest import MAX_DOCUMENT_BYTES, MAX_FILE_BYTES


class RunSettings(BaseModel):
    """What a preprocess run reads, how it cleans and annotates, and where it writes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field("data/raw", description="file, directory or glob of raw text")
    output: str = Field("output", description="folder (or s3://bucket/prefix) of the Parquet tables")
    model: str = Field(DEFAULT_MODEL, description="installed spaCy pipeline")
    batch_size: int = Field(256, ge=1, description="documents per batch")
    batch_chars: int = Field(1_000_000, ge=1, description="characters per batch")
    text_column: str = Field("text", description="text field of jsonl/csv/parquet")
    rules: list[str] | None = Field(None, description="cleaning rules to run (default: all)")
    exceptions: list[str] | None = Field(
        None, description="repetitions duplicate_word keeps, e.g. 'Ding Ding'")
    glossary: str | None = Field(None, description="TSV file of variant<TAB>preferred spellings")
    reprocess: bool = Field(
        False, description="process documents even if already published with these versions")
    workers: int = Field(0, ge=0, description="worker processes (default: all cores)")
    runner: Literal["auto", "thread", "process", "dask"] = Field(
        "auto", description="where batches run: this process (thread), a process pool, or Dask; "
        "auto: this process for inputs under 2 MB, else the pool")
    dask_address: str | None = Field(
        None, description="scheduler of an existing Dask cluster (tcp://host:8786); without it "
        "runner dask starts a local cluster")
    entity_patterns: str | None = Field(
        None, description="JSONL of spaCy EntityRuler patterns whose matches win over the model "
        "(see config/entity_patterns.example.jsonl)")
    max_reject_fraction: float = Field(
        1.0, ge=0, le=1, description="fail the run when more than this fraction of inputs is "
        "rejected")
    max_document_bytes: int = Field(
        MAX_DOCUMENT_BYTES, ge=1, description="a text file, JSONL line, CSV row or Parquet value "
        "larger than this is rejected as too_large (default: 64 MiB)")
    max_file_bytes: int = Field(
        MAX_FILE_BYTES, ge=1, description="the rest of a file past this many (uncompressed) "
        "bytes is rejected as too_large (default: 8 GiB)")
    max_document_seconds: float = Field(
        30.0, gt=0, description="cleaning one document for longer than this many seconds (wall "
        "clock) rejects it as too_slow, naming its source; the rest of the batch goes on "
        "(default: 30)")


# Where the command line departs from the field's name: a repeatable singular flag, a flag the
# command line requires although the flow has a default.
_CLI: dict[str, dict[str, Any]] = {
    "source": {"required": True},
    "exceptions": {"flag": "--exception", "action": "append"},
}

F = TypeVar("F", bound=Callable[..., Any])


def flat_parameters(model: type[BaseModel]) -> Callable[[F], F]:
    """Give ``fn(**settings)`` one keyword parameter per field of ``model``, typed and limited as
    the field is (Prefect builds its parameter schema and validation from the signature, and
    its descriptions from the docstring's ``Args:``)."""
    params = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=field.default,
                                annotation=Annotated[field.annotation, field])
              for name, field in model.model_fields.items()]
    args = "\n".join(f"    {name}: {field.description}" for name, field in
                     model.model_fields.items())

    def decorate(fn: F) -> F:
        fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            params, return_annotation=inspect.signature(fn).return_annotation)
        fn.__annotations__ = {p.name: p.annotation for p in params}
        fn.__doc__ = f"{inspect.cleandoc(fn.__doc__ or '')}\n\nArgs:\n{args}\n"
        return fn

    return decorate


def _is_list(annotation: Any) -> bool:
    return any(typing.get_origin(a) is list for a in (annotation, *typing.get_args(annotation)))


def command_line(model: type[BaseModel], prog: str, description: str | None
                 ) -> argparse.ArgumentParser:
    """An argparse parser with one ``--kebab-case`` option per field of ``model``."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, field in model.model_fields.items():
        extra = dict(_CLI.get(name, {}))
        flag = extra.pop("flag", "--" + name.replace("_", "-"))
        annotation = field.annotation
        kwargs: dict[str, Any] = {"dest": name, "help": field.description}
        if annotation is bool:
            kwargs["action"] = "store_true"
        elif _is_list(annotation):
            kwargs["nargs"] = "*"
        elif typing.get_origin(annotation) is Literal:
            kwargs["choices"] = list(typing.get_args(annotation))
        else:
            base = [a for a in typing.get_args(annotation) if a is not types.NoneType]
            kwargs["type"] = base[0] if base else annotation
        if not extra.get("required"):
            kwargs["default"] = field.default
        kwargs.update(extra)
        if kwargs.get("action") == "append":
            kwargs.pop("nargs", None)
        parser.add_argument(flag, **kwargs)
    return parser
