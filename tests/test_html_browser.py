"""The HTML report of the owl fixture, opened in a real headless Chromium, shows the verdict and three plots.

Chromium parses and lays out the page: its serialized DOM (``--dump-dom``) must hold the verdict
and three drawn SVG plots, and its screenshot must show them (many colours in the plot area, the
verdict's red). A missing browser fails the test (and `make test` stops before pytest, in one line)
unless SUBAUDIT_SKIP_BROWSER=1 says to skip it; CI installs Debian's ``chromium-headless-shell`` (.ci/run).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from audit.core.exit_codes import ExitCode
from tests.conftest import FIXTURES, OWL_PROMPT_FILE, run_cli

pytestmark = pytest.mark.slow
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "headless_shell")
FLAGGED_RED = (0xC6, 0x28, 0x28)


def find_browser() -> str | None:
    explicit = os.environ.get("SUBAUDIT_CHROMIUM")
    if explicit:
        return explicit
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def browser_args(browser: str) -> list[str]:
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
            "--window-size=1240,1300"]


class _PageParser(HTMLParser):
    """Collects the verdict text, per SVG plot the shapes drawn in it, and per top row its token tooltips."""

    def __init__(self) -> None:
        super().__init__()
        self.verdict = ""
        self.in_verdict = False
        self.plots: dict[str, int] = {}
        self.current: str | None = None
        self.token_rows: list[list[str]] = []
        self.in_tokens = False
        self.texts: dict[tuple[str, str], list[str]] = {}
        """(plot id, text class) -> the texts drawn, e.g. ('plot-evidence', 'x-label')."""
        self.text_class: str | None = None
        self.classes: dict[str, list[str]] = {}
        """plot id -> the class of every shape drawn in it (e.g. 'tolerance', 'bar')."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "pre" and a.get("class") == "tokens":
            self.in_tokens = True
            self.token_rows.append([])
        elif self.in_tokens and tag == "span":
            self.token_rows[-1].append(a.get("title") or "")
        if a.get("id") == "verdict":
            self.in_verdict = True
        if tag == "svg" and a.get("class") == "plot":
            self.current = a.get("id") or f"plot{len(self.plots)}"
            self.plots[self.current] = 0
        elif self.current and tag in ("rect", "polyline", "line", "path", "circle"):
            self.plots[self.current] += 1
            self.classes.setdefault(self.current, []).append(a.get("class") or "")
        elif self.current and tag == "text":
            self.text_class = a.get("class")

    def handle_endtag(self, tag: str) -> None:
        if tag == "text":
            self.text_class = None
        if tag == "pre":
            self.in_tokens = False
        if tag == "svg":
            self.current = None
        if tag == "p":
            self.in_verdict = False

    def handle_data(self, data: str) -> None:
        if self.in_verdict:
            self.verdict += data
        if self.current and self.text_class:
            self.texts.setdefault((self.current, self.text_class), []).append(data)
            self.text_class = None


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB(A) rows of an 8-bit non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and interlace == 0 and colour in (2, 6), (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, previous = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up, corner = previous[x], previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def colour_scale_of(top: dict) -> float:  # type: ignore[type-arg]
    from audit.report.token_colours import MIN_SCALE

    return max([MIN_SCALE, *(abs(v) for row in top["rows"] for v in row["token_llr"])])


def token_pixel(value: float, scale: float) -> tuple[int, int, int]:
    """The colour a token's span shows: its rgba (audit.report.token_colours) composited over #fafafa."""
    alpha = float(f"{min(1.0, abs(value) / scale):.2f}")
    rgb = (214, 39, 40) if value > 0 else (31, 119, 180)
    return tuple(round(alpha * c + (1 - alpha) * 250) for c in rgb)  # type: ignore[return-value]


def pixels(rows: list[bytes], width: int, bpp: int) -> set[tuple[int, int, int]]:
    return {(r[i], r[i + 1], r[i + 2]) for r in rows for i in range(0, width * bpp, bpp)}


def test_owl_report_in_headless_chromium(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    browser = find_browser()
    if browser is None:
        if os.environ.get("SUBAUDIT_SKIP_BROWSER") == "1":
            pytest.skip("SUBAUDIT_SKIP_BROWSER=1: no headless Chromium, the HTML report is not opened")
        pytest.fail("no headless Chromium on PATH (apt install chromium-headless-shell, or set SUBAUDIT_CHROMIUM; "
                    "SUBAUDIT_SKIP_BROWSER=1 skips this test)")
    report, page, shot = tmp_path / "owl.json", tmp_path / "owl.html", tmp_path / "owl.png"
    code, _, err = run_cli(["scan", str(FIXTURES / "smoke" / "owl.parquet"), "--teacher-system-file",
                            str(OWL_PROMPT_FILE), "--report", str(report), "--quiet"], capsys, monkeypatch)
    assert code == ExitCode.FINDINGS, err
    code, _, err = run_cli(["report", "render", str(report), "--format", "html", "--out", str(page)],
                           capsys, monkeypatch)
    assert code == 0, err

    dom = subprocess.run([*browser_args(browser), "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    parsed = _PageParser()
    parsed.feed(dom)
    assert parsed.verdict.strip() == "Verdict: FLAGGED"
    assert set(parsed.plots) == {"plot-histogram", "plot-positions", "plot-evidence"}, parsed.plots
    assert all(shapes >= 3 for shapes in parsed.plots.values()), parsed.plots
    # The rows carrying the most evidence: one coloured span per completion token, its LLR in the tooltip.
    saved = json.loads(report.read_text())
    top = saved["top_rows"]
    assert len(parsed.token_rows) == len(top["rows"]) == 10
    for shown, row in zip(parsed.token_rows, top["rows"], strict=True):
        assert shown == [f"{v:+.3f} nats" for v in row["token_llr"]]
    # The evidence chart as a reviewer reads it: one bar per baseline of the verdict, named; round ticks;
    # the tolerance line every interval must clear.
    members = next(r for r in saved["results"] if r["detector_id"] == "llr-panel")["details"]["members"]
    baselines = ["reference", "neutral control", *(f"panel: {m['name']}" for m in members)]
    assert parsed.texts[("plot-evidence", "x-label")] == baselines
    assert parsed.classes["plot-evidence"].count("bar") == len(baselines) == 5
    assert parsed.classes["plot-evidence"].count("tolerance") == 1
    assert ("plot-evidence", "x-tick") not in parsed.texts, "a categorical axis carries no numbers"
    for plot in ("plot-evidence", "plot-histogram", "plot-positions"):
        ticks = [float(t) for t in parsed.texts[(plot, "y-tick")]]
        steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
        assert len(steps) == 1, (plot, ticks)  # evenly spaced
        step = steps.pop()
        assert round(step / 10 ** math.floor(math.log10(step)), 6) in (1, 2, 2.5, 5), (plot, ticks)
        assert all(abs(t / step - round(t / step)) < 1e-6 for t in ticks), (plot, ticks)  # multiples of the step

    subprocess.run([*browser_args(browser), f"--screenshot={shot}", page.as_uri()], capture_output=True,
                   timeout=120, check=True)
    width, height, rows = decode_png(shot.read_bytes())
    assert (width, height) == (1240, 1300)
    bpp = len(rows[0]) // width
    colours = pixels(rows, width, bpp)
    assert len(colours) > 50, "the page rendered nearly blank"
    assert any(abs(c[0] - FLAGGED_RED[0]) + abs(c[1] - FLAGGED_RED[1]) + abs(c[2] - FLAGGED_RED[2]) < 30
               for c in colours), "no flagged-red pixel: the verdict is not drawn"

    # The top rows' token colours, drawn: a page tall enough to hold every row, and in it each row's
    # strongest token's background (its rgba over the block's #fafafa), within compositing rounding.
    tall = tmp_path / "tall.png"
    subprocess.run([*browser_args(browser)[:-1], "--window-size=1240,6000", f"--screenshot={tall}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    width, _, rows = decode_png(tall.read_bytes())
    drawn = pixels(rows, width, len(rows[0]) // width)
    for row in top["rows"]:
        strongest = max(row["token_llr"], key=abs)
        expected = token_pixel(strongest, colour_scale_of(top))
        assert any(max(abs(c[k] - expected[k]) for k in range(3)) <= 3 for c in drawn), (row["row_id"], expected)

