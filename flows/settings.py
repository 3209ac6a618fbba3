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
import glob
import inspect
import os
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tasks.annotate import DEFAULT_MODEL, load_patterns, model_version
from tasks.ingest import MAX_DOCUMENT_BYTES, MAX_FILE_BYTES, file_path, source_name


class _Checked(BaseModel):
    """What ``RunSettings`` checks of its values beyond their types and limits: every file and
    name a setting gives, so a bad one fails with its name and value before a server starts
    (``main``) or a run writes anything (the flow). Reads, never creates or writes."""

    @field_validator("source", check_fields=False)
    @classmethod
    def _source_exists(cls, source: str) -> str:
        path = file_path(source)  # a name that is not UTF-8 may be given escaped, as recorded
        if not os.path.lexists(path):
            if not glob.has_magic(path):
                raise ValueError(f"source {source!r} does not exist: give a file, a directory or "
                                 "a glob such as 'data/**/*.jsonl'")
            if not glob.glob(path, recursive=True):
                raise ValueError(f"source pattern {source!r} matches no file")
        return source_name(path)  # storable in the runs row

    @field_validator("output", check_fields=False)
    @classmethod
    def _output_writable(cls, output: str) -> str:
        if output.startswith("s3://"):
            return output  # its bucket and credentials are checked when the run starts
        if source_name(output) != output:
            raise ValueError(f"output {source_name(output)!r} is not a UTF-8 name; choose "
                             "another folder")
        lock = os.path.join(output, ".lock")
        if os.path.isfile(output):
            raise ValueError(f"output {output!r} is a file, not a folder; choose a folder")
        if os.path.lexists(lock) and not os.path.isfile(lock):
            raise ValueError(f"the lock file {lock} is a directory, not a file (or is not a "
                             "regular file); remove it, a run creates it")
        existing = os.path.abspath(output)
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(f"output {output!r} cannot be written ({existing} is not a folder "
                             "this user can write); choose another folder or fix its permissions")
        return output

    @field_validator("model", check_fields=False)
    @classmethod
    def _model_installed(cls, model: str) -> str:
        from tasks.annotate import ModelNotFound

        try:
            model_version(model)
        except ModelNotFound as exc:  # its message lists the installed pipelines
            raise ValueError(str(exc)) from exc
        return model

    @field_validator("rules", check_fields=False)
    @classmethod
    def _rules_known(cls, rules: list[str] | None) -> list[str] | None:
        from tasks.clean import RULES

        if rules is not None and not rules:
            raise ValueError(f"no rule given; name the rules to run ({', '.join(RULES.names)}) "
                             "or leave the setting out to run them all")
        if rules:
            RULES.check(rules)
        return rules

    @field_validator("exceptions", check_fields=False)
    @classmethod
    def _exceptions_are_words(cls, exceptions: list[str] | None) -> list[str] | None:
        for kept in exceptions or ():
            if not kept.strip():
                raise ValueError(f"{kept!r} is blank; give the words duplicate_word keeps, e.g. "
                                 "'Ding Ding'")
            if os.path.isfile(kept):
                raise ValueError(f"{kept!r} is a file; give the repetitions themselves, one per "
                                 "--exception, e.g. --exception 'Ding Ding'")
        return exceptions

    @field_validator("glossary", check_fields=False)
    @classmethod
    def _glossary_readable(cls, glossary: str | None) -> str | None:
        from tasks.clean.glossary import load_glossary

        if glossary is None:
            return None
        if not os.path.lexists(glossary):
            raise ValueError(f"glossary file {glossary!r} does not exist; give a TSV file of "
                             "variant<TAB>preferred lines (see config/glossary.example.tsv)")
        try:
            load_glossary(glossary)  # a bad line fails naming the file and line
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else f"not UTF-8: {exc}"
            raise ValueError(f"glossary file {glossary!r} cannot be read ({why})") from exc
        return glossary

    @field_validator("entity_patterns", check_fields=False)
    @classmethod
    def _patterns_readable(cls, patterns: str | None) -> str | None:
        if patterns is not None:
            load_patterns(patterns)  # fails naming the file and line, or why it cannot be read
        return patterns


class RunSettings(_Checked):
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
