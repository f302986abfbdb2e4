"""Terminal rendering of a :class:`Report` with rich (to stderr; stdout is for machine output)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

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

VERDICT_STYLE = {Verdict.CLEAN: "bold green", Verdict.SUSPICIOUS: "bold yellow", Verdict.FLAGGED: "bold red"}


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def render_terminal(report: Report, console: Console) -> None:
    """Print the summary: input, models, each detector's result and the verdict."""
    inp = report.input
    skipped = sum(inp.rows_skipped.values())
    console.print(
        f"[bold]subaudit {report.tool_version}[/] scanned [cyan]{inp.path}[/] "
        f"({inp.format}, sha256 {inp.sha256[:12]}…): {inp.rows_scored} of {inp.rows_read} rows scored, "
        f"{skipped} skipped, {inp.tokens_scored} completion tokens"
    )
    for reason, count in sorted(inp.rows_skipped.items(), key=lambda kv: -kv[1]):
        console.print(f"  skipped {count}: {reason}")
    if inp.rows_not_sampled:
        console.print(f"  not in the {report.parameters.sample_fraction:g} sample: {inp.rows_not_sampled}")
    models = Table(title="Models", title_justify="left", show_edge=False)
    for name in ("role", "source", "weights sha256", "system prompt"):
        models.add_column(name)
    for model in report.models:
        prompt = model.system_prompt or "(template default)"
        source = model.source if model.adapter is None else f"{model.source} + adapter {model.adapter}"
        models.add_row(model.role, source, model.weights_sha256[:12],
                       prompt if len(prompt) <= 60 else prompt[:57] + "...")
    console.print(models)
    results = Table(title="Detectors", title_justify="left", show_edge=False)
    for name in ("detector", "statistic", "95% CI", "p-value", "effect (d)", "verdict"):
        results.add_column(name)
    for result in report.results:
        results.add_row(
            result.detector_id,
            _fmt(result.statistic, "+.4f"),
            f"[{_fmt(result.ci_low, '+.4f')}, {_fmt(result.ci_high, '+.4f')}]",
            _fmt(result.p_value, ".3g"),
            _fmt(result.effect_size, "+.2f"),
            f"[{VERDICT_STYLE[result.verdict]}]{result.verdict.value}[/]",
        )
    console.print(results)
    for result in report.results:
        console.print(f"  {result.detector_id}: {result.summary}")
    console.print(vocabulary_description(report), markup=False, highlight=False)
    console.print(null_description(report), markup=False, highlight=False)
    baselines = baselines_description(report)
    if baselines is not None:
        console.print(baselines, markup=False, highlight=False)
    cache = score_cache_description(report)
    if cache is not None:
        console.print(cache, markup=False, highlight=False)
    sequential = sequential_description(report)
    if sequential is not None:
        console.print(sequential, markup=False, highlight=False)
    if report.teacher_traits is not None:
        console.print(f"Teacher traits: {report.teacher_traits.statement}", markup=False, highlight=False)
        console.print(attribution_line(report), markup=False, highlight=False)
    engine = engine_description(report)
    if engine is not None:
        console.print(engine, markup=False, highlight=False)
    console.print(
        f"Verdict: [{VERDICT_STYLE[report.verdict]}]{report.verdict.value.upper()}[/] "
        f"(alpha {report.parameters.alpha}, fail on {report.parameters.fail_on}{null_caveat(report)}; "
        f"exit code {report.exit_code}; {report.timings.total_s:.1f} s, "
        f"{report.timings.scored_tokens_per_s:.0f} scored tokens/s per model)"
    )
