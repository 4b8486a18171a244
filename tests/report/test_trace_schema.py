"""JSON traces follow their published, versioned JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from lockbreak.cli import main
from lockbreak.report.traces import TRACE_SCHEMA, TRACE_SCHEMA_FILE
from tests.support.paths import REPO

SCENARIOS = REPO / "scenarios"


@pytest.fixture(scope="module")
def schema() -> dict:
    loaded = json.loads(TRACE_SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(loaded)
    assert loaded["$id"] == loaded["properties"]["schema"]["const"] == TRACE_SCHEMA
    return loaded


@pytest.mark.parametrize("scenario", ["nested-v2.6.9", "nested-outer-v2.6.12",
                                      "nested-wakeup-v2.6.20", "stale-data-v2.6.12"])
def test_every_written_trace_is_valid(tmp_path: Path, schema: dict, scenario: str) -> None:
    result = CliRunner().invoke(main, ["check", "--trace-dir", str(tmp_path),
                                       str(SCENARIOS / f"{scenario}.toml")])
    assert result.exit_code == 0, result.output
    traces = sorted(tmp_path.glob("*.json"))
    assert traces
    for trace in traces:
        jsonschema.validate(json.loads(trace.read_text()), schema)


def test_the_schema_rejects_a_trace_of_another_version(tmp_path: Path, schema: dict) -> None:
    CliRunner().invoke(main, ["check", "--trace-dir", str(tmp_path),
                              str(SCENARIOS / "nested-v2.6.9.toml")])
    data = json.loads(next(tmp_path.glob("*.json")).read_text())
    data["schema"] = "lockbreak-trace/2"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
