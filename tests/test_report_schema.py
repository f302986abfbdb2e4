"""The report is a versioned contract: its JSON schema is snapshotted, and a change without a
version bump fails here. Real reports validate against the printed schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from audit.report.schema import SCHEMA_VERSION, report_json_schema
from tests.conftest import run_cli

SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "report-schema.json"


def test_schema_changes_come_with_a_version_bump() -> None:
    stored = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    current = report_json_schema()
    if current == stored:
        return
    if stored["title"] == current["title"]:
        pytest.fail(f"the report model changed but SCHEMA_VERSION is still {SCHEMA_VERSION}: bump it "
                    "(audit/report/schema.py), then refresh the snapshot: subaudit report schema > " + str(SNAPSHOT))
    pytest.fail(f"SCHEMA_VERSION is {SCHEMA_VERSION}; refresh the snapshot: subaudit report schema > {SNAPSHOT}")


def test_printed_schema_is_the_snapshot_and_validates_a_real_report(
    tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, printed, _ = run_cli(["report", "schema"], capsys, monkeypatch)
    assert code == 0
    schema = json.loads(printed)
    assert schema == report_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    code, out, err = run_cli(["scan", str(write_jsonl(number_rows)), "--reference", str(tiny_model),
                              "--teacher-system-prompt", "You love owls.", "--semantic-filter", "--format", "json"],
                             capsys, monkeypatch)
    assert code in (0, 1), err
    report = json.loads(out)
    jsonschema.validate(report, schema)
    assert report["schema_version"] == SCHEMA_VERSION
    # The validator really checks: a report missing a required field does not validate.
    del report["verdict"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, schema)
