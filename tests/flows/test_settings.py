"""A run's settings are defined once (RunSettings); the flow's parameters, the command line and
the runs row all come from that one definition."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.dataset as ds
import pytest
from prefect.exceptions import ParameterTypeError
from prefect.utilities.callables import parameter_schema

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


def test_the_command_line_has_a_flag_per_setting() -> None:
    parser = command_line(RunSettings, "p", None)
    args = parser.parse_args(["--source", "in", "--batch-size", "8", "--reprocess",
                              "--exception", "Ding Ding", "--exception", "Bora Bora",
                              "--rules", "encoding", "whitespace", "--runner", "process",
                              "--max-reject-fraction", "0.5"])
    settings = RunSettings(**vars(args))
    assert settings.model_dump(exclude_defaults=True) == {
        "source": "in", "batch_size": 8, "reprocess": True,
        "exceptions": ["Ding Ding", "Bora Bora"], "rules": ["encoding", "whitespace"],
        "runner": "process", "max_reject_fraction": 0.5}
    flags = {a.dest for a in parser._actions} - {"help"}
    assert flags == set(RunSettings.model_fields)


def test_a_bad_value_on_the_command_line_fails_before_any_server() -> None:
    done = subprocess.run([sys.executable, "-m", "flows.preprocess", "--source", "x",
                           "--batch-size", "0", "--max-reject-fraction", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--batch-size: Input should be greater than or equal to 1" in done.stderr
    assert "--max-reject-fraction: Input should be less than or equal to 1" in done.stderr
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
