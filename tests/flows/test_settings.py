"""A run's settings are defined once (RunSettings); the flow's parameters, the command line and
the runs row all come from that one definition."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow.dataset as ds
import pytest
from prefect.exceptions import ParameterTypeError
from prefect.utilities.callables import parameter_schema
from pydantic import ValidationError

from flows.preprocess import preprocess
from flows.settings import RunSettings, command_line


def test_every_setting_is_a_typed_flow_parameter_with_its_limits() -> None:
    schema = parameter_schema(preprocess.fn).model_dump()["properties"]
    assert list(schema) == list(RunSettings.model_fields)
    for name, field in RunSettings.model_fields.items():
        assert schema[name]["default"] == field.default, name
        assert schema[name]["description"] == field.description, name
    assert schema["batch_size"]["minimum"] == 1
    assert (schema["max_reject_fraction"]["minimum"], schema["max_reject_fraction"]["maximum"]) \
        == (0, 1)
    assert schema["runner"]["enum"] == ["auto", "thread", "process", "dask"]


def test_prefect_refuses_a_bad_parameter_before_a_run() -> None:
    """What `prefect deployment run ... -p batch_size=0` meets: the field's own limit."""
    with pytest.raises(ParameterTypeError, match="batch_size"):
        preprocess.validate_parameters({"batch_size": 0})
    with pytest.raises(ParameterTypeError, match="runner"):
        preprocess.validate_parameters({"runner": "threads"})
    assert preprocess.validate_parameters({"workers": "2"})["workers"] == 2


def test_the_command_line_has_a_flag_per_setting(tmp_path) -> None:
    parser = command_line(RunSettings, "p", None)
    args = parser.parse_args(["--source", str(tmp_path), "--batch-size", "8", "--reprocess",
                              "--exception", "Ding Ding", "--exception", "Bora Bora",
                              "--rules", "encoding", "whitespace", "--runner", "process",
                              "--max-reject-fraction", "0.5"])
    settings = RunSettings(**vars(args))
    assert settings.model_dump(exclude_defaults=True) == {
        "source": str(tmp_path), "batch_size": 8, "reprocess": True,
        "exceptions": ["Ding Ding", "Bora Bora"], "rules": ["encoding", "whitespace"],
        "runner": "process", "max_reject_fraction": 0.5}
    flags = {a.dest for a in parser._actions} - {"help"}
    assert flags == set(RunSettings.model_fields)


def test_a_bad_value_on_the_command_line_fails_before_any_server() -> None:
    done = subprocess.run([sys.executable, "-m", "flows.preprocess", "--source", "x",
                           "--batch-size", "0", "--max-reject-fraction", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--batch-size 0: Input should be greater than or equal to 1" in done.stderr
    assert "--max-reject-fraction 2.0: Input should be less than or equal to 1" in done.stderr
    assert "temporary server" not in done.stderr + done.stdout


@pytest.mark.usefixtures("prefect_harness")
def test_the_runs_row_holds_the_settings_as_json(tmp_path, sample_dir) -> None:
    out = tmp_path / "out"
    preprocess(source=str(sample_dir), output=str(out), batch_size=7, exceptions=["Xi Xi"])
    runs = ds.dataset(out / "runs", format="parquet", partitioning="hive").to_table()
    recorded = RunSettings.model_validate_json(runs.column("parameters")[0].as_py())
    assert recorded == RunSettings(source=str(sample_dir), output=str(out), batch_size=7,
                                   exceptions=["Xi Xi"])
    assert json.loads(runs.column("counts")[0].as_py())["documents"] == 20


def test_every_bad_setting_fails_before_any_server_in_one_line_naming_it(tmp_path) -> None:
    """Issue 24, finding 5: a missing glossary was a bare FileNotFoundError traceback (two)
    after 10-17 s of server start, a lock path that is a folder an IsADirectoryError, and
    ``--rules`` with no values ran every rule. Now each bad setting is one line with its flag
    and value, before a server starts."""
    out = tmp_path / "out"
    (out / ".lock").mkdir(parents=True)
    argv = ["--source", str(tmp_path / "nope"), "--output", str(out),
            "--glossary", "/nonexistent.tsv", "--entity-patterns", str(tmp_path),
            "--model", "xx_no_such_model", "--rules", "--exception", " "]
    done = subprocess.run([sys.executable, "-m", "flows.preprocess", *argv],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    prefix = "python -m flows.preprocess: error: "
    assert all(line.startswith(prefix) for line in lines), done.stderr
    said = dict(line.removeprefix(prefix).split(": ", 1) for line in lines)
    assert list(said) == [
        f"--source {tmp_path / 'nope'}", f"--output {out}", "--model xx_no_such_model",
        "--rules (no values)", "--exception ' '", "--glossary /nonexistent.tsv",
        f"--entity-patterns {tmp_path}"], done.stderr
    assert said["--glossary /nonexistent.tsv"].startswith(
        "glossary file '/nonexistent.tsv' does not exist")
    assert said[f"--output {out}"].startswith(f"the lock file {out / '.lock'} is a directory")
    assert said["--rules (no values)"].startswith("no rule given")
    assert said["--model xx_no_such_model"].startswith(
        "spaCy pipeline 'xx_no_such_model' is not installed")
    assert said[f"--entity-patterns {tmp_path}"].startswith(
        f"entity patterns file {str(tmp_path)!r} cannot be read")
    assert "temporary server" not in done.stderr + done.stdout


@pytest.mark.parametrize(("values", "setting", "message"), [
    ({"glossary": "{tmp}"}, "glossary", "glossary file '{tmp}' cannot be read"),
    ({"glossary": "{tmp}/g.tsv"}, "glossary", "{tmp}/g.tsv:1: expected 'variant<TAB>preferred'"),
    ({"output": "{tmp}/g.tsv"}, "output", "output '{tmp}/g.tsv' is a file, not a folder"),
    ({"exceptions": ["{tmp}/g.tsv"]}, "exceptions", "'{tmp}/g.tsv' is a file"),
    ({"rules": ["encodings"]}, "rules", "unknown cleaning rule(s) 'encodings'; available: "),
    ({"source": "{tmp}/*.none"}, "source", "source pattern '{tmp}/*.none' matches no file"),
])
def test_a_bad_setting_is_refused_naming_it(tmp_path, values, setting, message) -> None:
    (tmp_path / "g.tsv").write_text("no tab here\n")
    values = {k: [x.format(tmp=tmp_path) for x in v] if isinstance(v, list)
              else v.format(tmp=tmp_path) for k, v in values.items()}
    with pytest.raises(ValidationError) as info:
        RunSettings(**{"source": str(tmp_path), "output": str(tmp_path / "out"), **values})
    [error] = info.value.errors()
    assert error["loc"][0] == setting
    assert message.format(tmp=tmp_path) in error["msg"]
    assert not (tmp_path / "out").exists()  # checked, not created


def test_a_source_whose_name_is_not_utf8_is_recorded_escaped(tmp_path) -> None:
    folder = os.path.join(os.fsencode(tmp_path), b"caf\xe9")
    os.mkdir(folder)
    settings = RunSettings(source=os.fsdecode(folder), output=str(tmp_path / "out"))
    assert settings.source == f"{tmp_path}/caf\\xe9"
    settings.model_dump_json()  # the runs row can hold it
