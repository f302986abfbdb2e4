"""Colours for per-token LLRs, shared by the HTML and Markdown renderers.

Red where the teacher finds the token likelier than the baseline, blue where less likely, with
opacity proportional to the magnitude; one scale (the largest magnitude shown, floored so near-zero
noise stays pale) for every row of a report, so rows can be compared by eye.
"""

from __future__ import annotations

from html import escape

from audit.report.schema import TopRows

MIN_SCALE = 0.5
"""nats: a report whose largest token LLR is smaller than this still colours on this scale."""


def colour_scale(top: TopRows) -> float:
    values = [abs(v) for row in top.rows for v in row.token_llr]
    return max([MIN_SCALE, *values])


def token_style(value: float, scale: float) -> str:
    alpha = min(1.0, abs(value) / scale)
    rgb = "214,39,40" if value > 0 else "31,119,180"
    return f"background:rgba({rgb},{alpha:.2f})"


def coloured_tokens(tokens: list[str], values: list[float], scale: float) -> str:
    """One ``<span>`` per token, its LLR in the tooltip; line breaks shown as ↵ and kept."""
    spans = []
    for token, value in zip(tokens, values, strict=True):
        shown = escape(token).replace("\n", "↵\n")
        spans.append(f'<span style="{token_style(value, scale)}" title="{value:+.3f} nats">{shown}</span>')
    return "".join(spans)
