"""A self-contained HTML report: verdict, tables and three inline-SVG plots, no scripts, no network.

A review board opens it offline, years later: no JavaScript, no fonts or styles from elsewhere,
every plot drawn as SVG from data stored in the report (``Report.plots``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from html import escape

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

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_VERDICT_COLOUR = {Verdict.CLEAN: "#2e7d32", Verdict.SUSPICIOUS: "#b26a00", Verdict.FLAGGED: "#c62828"}
_W, _H, _PAD = 560, 260, 44


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]: a step of 1, 2, 2.5 or 5 times a power of ten, about ``count`` ticks."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw * (1 - 1e-9))
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _tick_text(value: float, ticks: list[float]) -> str:
    """A tick label with as many decimals as the step needs (0.005, 0.01, 0.025; 0 as 0)."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    exponent = Decimal(str(round(step, 12))).normalize().as_tuple().exponent
    decimals = max(0, -exponent) if isinstance(exponent, int) else 0
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text


def _axes(title: str, x_label: str, y_label: str, x_range: tuple[float, float], y_range: tuple[float, float],
          plot_id: str, x_ticks: bool = True) -> tuple[list[str], Callable[[float, float], tuple[float, float]]]:
    """SVG header, frame, labels and round ticks; returns the parts and a (x, y) -> pixel mapper.

    The y range is widened to the outer round ticks. ``x_ticks`` False: a categorical x axis, whose
    labels the caller draws (a number there would only count the categories).
    """
    (x0, x1) = x_range
    if x1 <= x0:
        x1 = x0 + 1.0
    y_values = nice_ticks(*y_range)
    y0, y1 = y_values[0], y_values[-1]
    x_values = nice_ticks(x0, x1) if x_ticks else []
    if x_ticks:
        x0, x1 = min(x0, x_values[0]), max(x1, x_values[-1])

    def px(x: float, y: float) -> tuple[float, float]:
        return (_PAD + (x - x0) / (x1 - x0) * (_W - 2 * _PAD), _H - _PAD - (y - y0) / (y1 - y0) * (_H - 2 * _PAD))

    parts = [f'<svg id="{plot_id}" class="plot" role="img" aria-label="{escape(title)}" width="{_W}" height="{_H}" '
             f'viewBox="0 0 {_W} {_H}" xmlns="http://www.w3.org/2000/svg">',
             f'<text x="{_W / 2}" y="16" text-anchor="middle" font-weight="bold">{escape(title)}</text>',
             f'<rect x="{_PAD}" y="{_PAD}" width="{_W - 2 * _PAD}" height="{_H - 2 * _PAD}" '
             'fill="none" stroke="#999"/>',
             f'<text x="{_W / 2}" y="{_H - 8}" text-anchor="middle" font-size="12">{escape(x_label)}</text>',
             f'<text x="12" y="{_H / 2}" text-anchor="middle" font-size="12" '
             f'transform="rotate(-90 12 {_H / 2})">{escape(y_label)}</text>']
    for xv in x_values:
        tx, _ = px(xv, y0)
        parts.append(f'<text class="x-tick" x="{tx:.1f}" y="{_H - _PAD + 14}" text-anchor="middle" font-size="10">'
                     f'{_tick_text(xv, x_values)}</text>')
    for yv in y_values:
        _, ty = px(x0, yv)
        parts.append(f'<text class="y-tick" x="{_PAD - 4}" y="{ty + 3:.1f}" text-anchor="end" font-size="10">'
                     f'{_tick_text(yv, y_values)}</text>')
    return parts, px


def _legend(labels: list[str]) -> list[str]:
    return [f'<text x="{_W - _PAD - 4}" y="{_PAD + 14 + 14 * i}" text-anchor="end" font-size="11" '
            f'fill="{_COLOURS[i % len(_COLOURS)]}">{escape(label)}</text>' for i, label in enumerate(labels)]


def histogram_svg(report: Report) -> str:
    histograms = report.plots.row_llr_histograms
    if not histograms:
        return "<p>No histogram data.</p>"
    edges = histograms[0].edges
    top = max(max(h.counts) for h in histograms)
    parts, px = _axes("Per-row LLR (nats/token)", "per-token LLR of a row (teacher − baseline)", "rows",
                      (edges[0], edges[-1]), (0.0, float(top)), "plot-histogram")
    for i, histogram in enumerate(histograms):
        points = []
        for k, count in enumerate(histogram.counts):
            for x in (histogram.edges[k], histogram.edges[k + 1]):
                points.append("{:.1f},{:.1f}".format(*px(x, count)))
        parts.append(f'<polyline fill="none" stroke="{_COLOURS[i]}" stroke-width="1.5" points="{" ".join(points)}"/>')
    if edges[0] < 0 < edges[-1]:
        (zx, zy0), (_, zy1) = px(0.0, 0.0), px(0.0, float(top))
        parts.append(f'<line x1="{zx:.1f}" y1="{zy0:.1f}" x2="{zx:.1f}" y2="{zy1:.1f}" stroke="#000" '
                     'stroke-dasharray="4 3"><title>0: no evidence either way</title></line>')
    parts += [*_legend([h.label for h in histograms]), "</svg>"]
    return "".join(parts)


def position_svg(report: Report) -> str:
    profiles = report.plots.position_profiles
    if not profiles or not profiles[0].mean_llr:
        return "<p>No per-position data.</p>"
    length = max(len(p.mean_llr) for p in profiles)
    values = [v for p in profiles for v in p.mean_llr]
    low, high = min([*values, 0.0]), max([*values, 0.0])
    parts, px = _axes("Mean LLR by completion token position", "token position", "nats",
                      (1.0, float(length)), (low, high), "plot-positions")
    for i, profile in enumerate(profiles):
        points = " ".join("{:.1f},{:.1f}".format(*px(float(k + 1), v))
                          for k, v in enumerate(profile.mean_llr))
        parts.append(f'<polyline fill="none" stroke="{_COLOURS[i]}" stroke-width="1.5" points="{points}"/>')
    (x0, zy), (x1, _) = px(1.0, 0.0), px(float(length), 0.0)
    parts.append(f'<line x1="{x0:.1f}" y1="{zy:.1f}" x2="{x1:.1f}" y2="{zy:.1f}" stroke="#000" '
                 'stroke-dasharray="4 3"/>')
    parts += [*_legend([f"teacher vs {p.baseline}" for p in profiles]), "</svg>"]
    return "".join(parts)


@dataclass(frozen=True)
class _Bar:
    label: str
    statistic: float
    ci_low: float | None
    ci_high: float | None
    verdict: Verdict
    tip: str


def _evidence_bars(report: Report) -> list[_Bar]:
    """One bar per baseline the verdict's intersection-union test ran against: reference, control, each panel member."""
    names = {"llr": "reference", "llr-control": "neutral control"}
    bars = []
    for result in report.results:
        if result.detector_id in names and result.statistic is not None:
            bars.append(_Bar(names[result.detector_id], result.statistic, result.ci_low, result.ci_high,
                             result.verdict, result.summary))
        elif result.detector_id == "llr-panel":
            for member in result.details.get("members", []):
                if member.get("pooled_llr") is None:
                    continue
                bars.append(_Bar(f"panel: {member['name']}", float(member["pooled_llr"]), member.get("ci_low"),
                                 member.get("ci_high"), Verdict(member.get("verdict", result.verdict.value)),
                                 f"panel member {member['name']}: {member['pooled_llr']:+.4f} nats/token, "
                                 f"p {member['p_value']}"))
    return bars


def evidence_svg(report: Report) -> str:
    """Bar chart of the pooled LLR against every baseline of the verdict, with 95 % intervals and the tolerance."""
    bars = _evidence_bars(report)
    if not bars:
        return "<p>No likelihood-ratio results.</p>"
    tau = report.parameters.tolerance
    values = [v for b in bars for v in (b.statistic, b.ci_low, b.ci_high) if v is not None] + [0.0, tau]
    parts, px = _axes("Teacher evidence against each baseline (pooled LLR, 95 % CI)", "baseline",
                      "nats/token", (0.0, float(len(bars))), (min(values), max(values)), "plot-evidence",
                      x_ticks=False)
    for i, bar in enumerate(bars):
        (bx0, by0), (bx1, by1) = px(i + 0.2, 0.0), px(i + 0.8, bar.statistic)
        parts.append(f'<rect class="bar" x="{bx0:.1f}" y="{min(by0, by1):.1f}" width="{bx1 - bx0:.1f}" '
                     f'height="{abs(by1 - by0):.1f}" fill="{_VERDICT_COLOUR[bar.verdict]}">'
                     f'<title>{escape(bar.tip)}</title></rect>')
        if bar.ci_low is not None and bar.ci_high is not None:
            (cx, cy0), (_, cy1) = px(i + 0.5, bar.ci_low), px(i + 0.5, bar.ci_high)
            parts.append(f'<line x1="{cx:.1f}" y1="{cy0:.1f}" x2="{cx:.1f}" y2="{cy1:.1f}" stroke="#000"/>')
        lx, _ = px(i + 0.5, 0.0)
        parts.append(f'<text class="x-label" x="{lx:.1f}" y="{_H - _PAD + 14}" text-anchor="middle" font-size="10">'
                     f'{escape(bar.label)}</text>')
    (x0, ty), (x1, _) = px(0.0, tau), px(float(len(bars)), tau)
    parts.append(f'<line class="tolerance" x1="{x0:.1f}" y1="{ty:.1f}" x2="{x1:.1f}" y2="{ty:.1f}" stroke="#000" '
                 f'stroke-dasharray="4 3"><title>tolerance {tau:g} nats/token: a flag needs every bar\'s interval '
                 'above it</title></line>')
    parts.append("</svg>")
    return "".join(parts)


def ranking_svg(report: Report) -> str:
    """A probe's trait ranking: pooled LLR vs the neutral control per candidate, named ones in red."""
    probe = next((r for r in report.results if r.detector_id.startswith("trait-probe")), None)
    if probe is None:
        return evidence_svg(report)
    ranking = [r for r in probe.details.get("ranking", []) if r.get("llr_vs_neutral") is not None]
    if not ranking:
        return "<p>No ranked candidates.</p>"
    values = [float(r["llr_vs_neutral"]) for r in ranking] + [0.0]
    parts, px = _axes("Trait ranking (pooled LLR vs neutral control; red = named)", "candidate (rank order)",
                      "nats/token", (0.0, float(len(ranking))), (min(values), max(values)), "plot-ranking",
                      x_ticks=False)
    for i, row in enumerate(ranking):
        (bx0, by0), (bx1, by1) = px(i + 0.15, 0.0), px(i + 0.85, float(row["llr_vs_neutral"]))
        colour = _VERDICT_COLOUR[Verdict.FLAGGED] if row.get("named") else "#888"
        tip = f"{row['trait']}: {row['llr_vs_neutral']:+.4f} nats/token, adjusted p {row.get('p_adjusted')}"
        parts.append(f'<rect x="{bx0:.1f}" y="{min(by0, by1):.1f}" width="{bx1 - bx0:.1f}" '
                     f'height="{abs(by1 - by0):.1f}" fill="{colour}"><title>{escape(tip)}</title></rect>')
        lx, ly = px(i + 0.5, min(values))
        parts.append(f'<text x="{lx:.1f}" y="{ly - 4:.1f}" text-anchor="middle" font-size="10">'
                     f'{escape(str(row["trait"]))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def sequential_svg(report: Report) -> str:
    """A sequential scan's confidence sequences: per-token bounds against rows scored, with the tolerance line.

    Bounds are on E[row LLR sum - tolerance x tokens], drawn divided by the mean tokens per row and
    shifted by the tolerance, so they read in nats/token: flagged when every lower bound is above the
    tolerance line, clean when some upper bound is below it.
    """
    info = report.sequential
    if info is None or not info.looks:
        return ""
    tau = report.parameters.tolerance
    names = [b.baseline for b in info.looks[-1].bounds]
    series: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    for look in info.looks:
        if look.mean_tokens_per_row <= 0:
            continue
        for b in look.bounds:
            if b.baseline in series and abs(b.lower) != float("inf") and abs(b.upper) != float("inf"):
                series[b.baseline].append((float(look.rows), b.lower / look.mean_tokens_per_row + tau,
                                           b.upper / look.mean_tokens_per_row + tau))
    points = [v for s in series.values() for _, lo, hi in s for v in (lo, hi)]
    if not points:
        return ""
    shown = sorted(points)
    # Clip the widest 5 % each side (the first looks' bounds) so the decision's end stays readable.
    low, high = min(shown[len(shown) // 20], tau), max(shown[-1 - len(shown) // 20], tau)
    rows = [r for s in series.values() for r, _, _ in s]
    parts, px = _axes(f"Confidence sequences (stopped: {info.rule})", "rows scored", "per-token LLR bound (nats/token)",
                      (0.0, max(rows)), (low, high), "plot-sequential")
    for i, (name, values) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        for k, kind, dash in ((1, "lower", ""), (2, "upper", ' stroke-dasharray="5 2"')):
            path = " ".join("{:.1f},{:.1f}".format(*px(v[0], min(max(v[k], low), high))) for v in values)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.3"{dash} points="{path}">'
                         f'<title>{escape(name)} {kind} bound</title></polyline>')
    (x0, ty), (x1, _) = px(0.0, tau), px(max(rows), tau)
    parts.append(f'<line x1="{x0:.1f}" y1="{ty:.1f}" x2="{x1:.1f}" y2="{ty:.1f}" stroke="#000" stroke-dasharray="4 3">'
                 f'<title>tolerance {tau:g} nats/token</title></line>')
    parts += [*_legend([f"vs {name} (solid lower, dashed upper)" for name in names]), "</svg>"]
    return "".join(parts)


def _top_rows_html(report: Report) -> str:
    """The rows with the largest LLR, every token coloured by its own LLR."""
    top = report.top_rows
    if top is None or not top.rows:
        return ""
    scale = colour_scale(top)
    items = "".join(
        f'<li><p><code>{escape(row.row_id)}</code>: LLR {row.llr_sum:+.3f} nats over {len(row.tokens)} tokens</p>'
        f'<pre class="tokens">{coloured_tokens(row.tokens, row.token_llr, scale)}</pre></li>' for row in top.rows)
    return (f'<h2 id="top-rows">Rows carrying the most evidence</h2><p>The {len(top.rows)} rows with the largest '
            f"teacher-minus-{escape(top.baseline)} LLR ({escape(top.scope)}). Each token is coloured by its own LLR: "
            f"red where the teacher finds it likelier, blue where less likely, full colour at ±{scale:.2f} nats; hover "
            f"a token for its value.</p><ol class=\"top-rows\">{items}</ol>")


def render_html(report: Report) -> str:
    inp = report.input
    colour = _VERDICT_COLOUR[report.verdict]
    rows = "".join(
        f"<tr><td>{escape(r.detector_id)}</td><td>{_fmt(r.statistic, '+.4f')}</td>"
        f"<td>[{_fmt(r.ci_low, '+.4f')}, {_fmt(r.ci_high, '+.4f')}]</td><td>{_fmt(r.p_value, '.3g')}</td>"
        f"<td>{_fmt(r.effect_size, '+.2f')}</td><td style='color:{_VERDICT_COLOUR[r.verdict]}'>{r.verdict.value}</td>"
        f"<td>{escape(r.summary)}</td></tr>" for r in report.results)
    models = "".join(
        f"<tr><td>{escape(m.role)}</td><td><code>{escape(m.source)}</code></td><td><code>{m.weights_sha256[:16]}…"
        f"</code></td><td>{escape(m.system_prompt or '(template default)')}</td></tr>" for m in report.models)
    skipped = "".join(f"<li>{count}: {escape(reason)}</li>" for reason, count in sorted(inp.rows_skipped.items()))
    engine = engine_description(report)
    engine_paragraph = f'<p id="engine">{escape(engine)}</p>' if engine else ""
    warnings = "".join(f'<p class="warning"><b>Warning:</b> {escape(w)}</p>' for w in report.warnings)
    sequential = sequential_description(report)
    sequential_paragraph = f'<p id="sequential">{escape(sequential)}</p>' if sequential else ""
    baselines = baselines_description(report)
    baselines_paragraph = f'<p id="baselines">{escape(baselines)}</p>' if baselines else ""
    cache = score_cache_description(report)
    if cache:
        baselines_paragraph += f'\n<p id="score-cache">{escape(cache)}</p>'
    traits = report.teacher_traits
    traits_paragraph = (f'<p id="teacher-traits">Teacher traits: {escape(traits.statement)}<br>'
                        f'{escape(attribution_line(report) or "")}</p>') if traits else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>subaudit report: {report.verdict.value}</title>
<style>body{{font-family:sans-serif;max-width:1180px;margin:24px auto;color:#222}}
table{{border-collapse:collapse;margin:8px 0}}td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px}}
.verdict{{font-size:28px;font-weight:bold;color:{colour}}}.plots{{display:flex;flex-wrap:wrap;gap:12px}}
.plot{{border:1px solid #eee}}.warning{{color:#a05a00}}
pre.tokens{{white-space:pre-wrap;font-size:13px;background:#fafafa;padding:6px;border:1px solid #eee}}
</style></head><body>
<h1>subaudit report</h1>
<p id="verdict" class="verdict">Verdict: {report.verdict.value.upper()}</p>
<p>{escape(report.verdict_rule)}. alpha {report.parameters.alpha},
fail on {report.parameters.fail_on}{escape(null_caveat(report))}, exit code {report.exit_code}.</p>
<p id="vocabulary">{escape(vocabulary_description(report))}</p>
<p id="null">{escape(null_description(report))}</p>
{baselines_paragraph}
{warnings}
{sequential_paragraph}
{traits_paragraph}
{engine_paragraph}
<p>Input <code>{escape(inp.path)}</code> ({inp.format}), SHA-256 <code>{inp.sha256}</code>: {inp.rows_read} rows read,
{inp.rows_scored} scored, {sum(inp.rows_skipped.values())} skipped, {inp.tokens_scored} completion tokens.</p>
<ul>{skipped}</ul>
<h2>Plots</h2><div class="plots">{sequential_svg(report)}{histogram_svg(report)}{position_svg(report)}
{ranking_svg(report)}</div>
{_top_rows_html(report)}
<h2>Detectors</h2><table><tr><th>detector</th><th>statistic</th><th>95% CI</th><th>p-value</th><th>effect (d)</th>
<th>verdict</th><th>summary</th></tr>{rows}</table>
<h2>Models</h2><table><tr><th>role</th><th>source</th><th>weights SHA-256</th><th>system prompt</th></tr>
{models}</table>
<p>subaudit {escape(report.tool_version)}, report schema {report.schema_version}, created
{report.created_at:%Y-%m-%d %H:%M:%S} UTC. Command: <code>{escape(' '.join(report.command))}</code></p>
</body></html>
"""
