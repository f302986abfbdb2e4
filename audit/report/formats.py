"""Renderers of a :class:`Report` for review boards and CI systems: Markdown, JUnit XML, SARIF 2.1.0.

All read the one report model, so every output says the same thing. They are pure functions of
the report (no scoring), which is what lets ``subaudit report render`` re-render an old scan.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from audit.core.results import DetectorResult
from audit.core.verdict import Verdict
from audit.report.schema import (
    Report,
    attribution_line,
    baselines_description,
    engine_description,
    null_caveat,
    null_description,
    score_cache_description,
    sequential_description,
    vocabulary_description,
)
from audit.report.token_colours import colour_scale, coloured_tokens

FORMATS = ("markdown", "html", "junit", "sarif", "json")


def _num(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _fails(report: Report, verdict: Verdict) -> bool:
    return verdict.at_least(Verdict(report.parameters.fail_on))


def render_markdown(report: Report) -> str:
    """A self-contained Markdown summary (input, models, detectors, verdict, provenance)."""
    inp = report.input
    lines = [
        f"# subaudit report: {report.verdict.value.upper()}", "",
        f"- Input: `{inp.path}` ({inp.format}), SHA-256 `{inp.sha256}`",
        f"- Rows: {inp.rows_read} read, {inp.rows_scored} scored, {sum(inp.rows_skipped.values())} skipped, "
        f"{inp.tokens_scored} completion tokens",
    ]
    lines += [f"  - skipped {count}: {reason}" for reason, count in sorted(inp.rows_skipped.items())]
    lines += [
        f"- Verdict: **{report.verdict.value}** (alpha {report.parameters.alpha}, fail on "
        f"{report.parameters.fail_on}{null_caveat(report)}, exit code {report.exit_code})",
        f"- Rule: {report.verdict_rule}",
        f"- {vocabulary_description(report)}",
        f"- {null_description(report)}",
        *([f"- {baselines}"] if (baselines := baselines_description(report)) else []),
        *([f"- {cache}"] if (cache := score_cache_description(report)) else []),
        *[f"- Warning: {warning}" for warning in report.warnings],
        *([f"- {engine}"] if (engine := engine_description(report)) else []),
        *([f"- {seq}"] if (seq := sequential_description(report)) else []),
        *([f"- Teacher traits: {report.teacher_traits.statement}", f"- {attribution_line(report)}"]
          if report.teacher_traits else []),
        f"- subaudit {report.tool_version}, schema {report.schema_version}, {report.created_at:%Y-%m-%d %H:%M:%S} UTC; "
        f"command `{' '.join(report.command)}`", "",
        "## Models", "", "| role | source | weights SHA-256 | tokenizer SHA-256 | system prompt |",
        "|---|---|---|---|---|",
    ]
    for m in report.models:
        prompt = (m.system_prompt or "(template default)").replace("|", "\\|")
        lines.append(f"| {m.role} | `{m.source}` | `{m.weights_sha256[:16]}…` | `{m.tokenizer_sha256[:16]}…` "
                     f"| {prompt} |")
    lines += ["", "## Detectors", "", "| detector | statistic | 95% CI | p-value | effect (d) | verdict |",
              "|---|---|---|---|---|---|"]
    for r in report.results:
        lines.append(f"| {r.detector_id} | {_num(r.statistic, '+.4f')} | [{_num(r.ci_low, '+.4f')}, "
                     f"{_num(r.ci_high, '+.4f')}] | {_num(r.p_value, '.3g')} | {_num(r.effect_size, '+.2f')} "
                     f"| {r.verdict.value} |")
    lines += [""] + [f"- **{r.detector_id}** ({r.statistic_name}): {r.summary}" for r in report.results]
    lines += _top_rows_markdown(report)
    params = report.parameters.model_dump()
    lines += ["", "## Parameters", "", "| parameter | value |", "|---|---|"]
    lines += [f"| {k} | `{json.dumps(v)}` |" for k, v in params.items()]
    return "\n".join(lines) + "\n"


def _top_rows_markdown(report: Report) -> list[str]:
    """The rows with the largest LLR: tokens coloured with inline HTML (Markdown renderers that allow it,
    such as mkdocs), and each row's five strongest tokens in plain text for those that strip styles."""
    top = report.top_rows
    if top is None or not top.rows:
        return []
    scale = colour_scale(top)
    lines = ["", "## Rows carrying the most evidence", "",
             f"The {len(top.rows)} rows with the largest teacher-minus-{top.baseline} LLR ({top.scope}). Tokens are "
             f"coloured by their own LLR: red where the teacher finds them likelier, blue where less likely, full "
             f"colour at ±{scale:.2f} nats.", ""]
    for rank, row in enumerate(top.rows, 1):
        strongest = sorted(range(len(row.tokens)), key=lambda i: -row.token_llr[i])[:5]
        listed = ", ".join(f"`{json.dumps(row.tokens[i])[1:-1]}` {row.token_llr[i]:+.2f}" for i in strongest)
        lines += [f"{rank}. `{row.row_id}`: LLR {row.llr_sum:+.3f} nats over {len(row.tokens)} tokens; "
                  f"strongest tokens: {listed}", "",
                  f'<pre>{coloured_tokens(row.tokens, row.token_llr, scale)}</pre>', ""]
    return lines


def render_junit(report: Report) -> str:
    """JUnit XML: one test case per detector, failing when its verdict reaches --fail-on."""
    failing = [r for r in report.results if _fails(report, r.verdict)]
    suite = ET.Element("testsuite", {
        "name": "subaudit", "tests": str(len(report.results) + 1),
        "failures": str(len(failing) + (1 if _fails(report, report.verdict) else 0)), "errors": "0",
        "time": f"{report.timings.total_s:.3f}", "timestamp": report.created_at.isoformat(),
    })
    props = ET.SubElement(suite, "properties")
    for name, value in (("input", report.input.path), ("input_sha256", report.input.sha256),
                        ("rows_scored", str(report.input.rows_scored)), ("exit_code", str(report.exit_code))):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for result in report.results:
        case = ET.SubElement(suite, "testcase", {"classname": f"subaudit.{report.input.path}",
                                                 "name": result.detector_id})
        if _fails(report, result.verdict):
            failure = ET.SubElement(case, "failure", {"message": f"{result.verdict.value}: {result.summary}",
                                                      "type": result.verdict.value})
            failure.text = result.summary
        else:
            ET.SubElement(case, "system-out").text = f"{result.verdict.value}: {result.summary}"
    verdict_case = ET.SubElement(suite, "testcase", {"classname": f"subaudit.{report.input.path}",
                                                      "name": "dataset verdict"})
    if _fails(report, report.verdict):
        ET.SubElement(verdict_case, "failure", {"message": f"dataset verdict {report.verdict.value}",
                                                "type": report.verdict.value}).text = report.verdict_rule
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


_SARIF_LEVEL = {Verdict.FLAGGED: "error", Verdict.SUSPICIOUS: "warning", Verdict.CLEAN: "note"}


def _sarif_result(report: Report, result: DetectorResult, rule_index: int) -> dict[str, Any]:
    return {
        "ruleId": result.detector_id,
        "ruleIndex": rule_index,
        "level": _SARIF_LEVEL[result.verdict],
        "kind": "fail" if result.verdict is not Verdict.CLEAN else "pass",
        "message": {"text": f"{result.verdict.value}: {result.summary}"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": report.input.path, "index": 0}}}],
        "properties": {"pValue": result.p_value, "statistic": result.statistic,
                       "statisticName": result.statistic_name, "rows": result.n_rows},
    }


def render_sarif(report: Report) -> str:
    """SARIF 2.1.0: one rule per detector, one result per detector (pass or fail)."""
    rules = []
    for result in report.results:
        rules.append({
            "id": result.detector_id,
            "name": result.title.replace(" ", ""),
            "shortDescription": {"text": result.title},
            "fullDescription": {"text": result.description or result.statistic_name},
        })
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "subaudit", "version": report.tool_version, "rules": rules}},
            "invocations": [{"executionSuccessful": report.exit_code in (0, 1), "exitCode": report.exit_code,
                             "commandLine": " ".join(report.command)}],
            "artifacts": [{"location": {"uri": report.input.path}, "length": report.input.size_bytes,
                           "hashes": {"sha-256": report.input.sha256}}],
            "results": [_sarif_result(report, r, i) for i, r in enumerate(report.results)],
            "properties": {"verdict": report.verdict.value, "verdictRule": report.verdict_rule,
                           "schemaVersion": report.schema_version},
        }],
    }
    return json.dumps(log, indent=2) + "\n"


def render(report: Report, fmt: str) -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "html":
        from audit.report.html import render_html

        return render_html(report)
    if fmt == "junit":
        return render_junit(report)
    if fmt == "sarif":
        return render_sarif(report)
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    raise ValueError(f"unknown format {fmt}")
