"""Trait attribution and calibration on the number fixtures; writes experiments/ATTRIBUTION.md.

Everything here runs the real CLI (`subaudit calibrate`, `subaudit probe --calibration`, `subaudit
scan --calibration`) as a user would, on the first N filtered rows of each committed set, and
tabulates what the JSON reports say. Nothing is cached: each run generates and scores afresh.

1. Calibration, the default way: `subaudit calibrate fixtures/numbers/owl.parquet` has the
   reference answer the owl set's own prompts (constrained like the fixtures, 48 new tokens at
   most, temperature 1), keeps the completions that pass the paper's filter (chosen by `auto`,
   since every owl row passes it), and measures the owl teacher's null on them. The same
   generated rows then calibrate the probe (`calibrate --known-source ... --traits`).
2. Probe: `subaudit probe SET --traits T --restrict-vocab numbers --max-rows N --calibration ...`
   on the owl, cat, no-prompt and neutral-prompt sets; the ranking, and which trait is named
   under the calibrated null and under the theoretical one (both from the same report).
3. `scan --calibration` of the owl and neutral sets: the calibrated thresholds and verdicts.

Each finished section is written to out/attribution/ATTRIBUTION.partial.md as the run goes (a run takes
about 1.5 hours on 2 cores); the committed file is replaced only once every section has finished, so an
interrupted run never leaves a partial report where the whole one was.

``--resume`` keeps the sections an interrupted run with the same options finished (kept in
out/attribution/attribution-state.json) and runs only the rest; the file says which sections ran when.

Usage: python -m experiments.attribution [--rows 400] [--traits owl,cat,dog] [--resume]
       [--out experiments/ATTRIBUTION.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from experiments.cli_run import run_subaudit

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = ROOT / "fixtures" / "numbers"
OWL_PROMPT = ROOT / "fixtures" / "prompts" / "owl.txt"
WORK = ROOT / "out" / "attribution"
SETS = ("owl", "cat", "none", "neutral")


SCAN_CALIBRATION = WORK / "calibration-owl.json"
"""Section 1's scan calibration (owl teacher), which section 3 scans with."""
PROBE_CALIBRATION = WORK / "calibration-probe.json"
"""Section 1's probe calibration, which section 2 probes with."""
STATE = WORK / "attribution-state.json"
"""The finished sections of the last run and the options it ran with, for ``--resume``."""


def _resumable_state(options: dict[str, Any]) -> dict[str, Any] | None:
    """The last run's finished sections when it ran with these options, else None (everything runs)."""
    if not STATE.exists():
        return None
    try:
        state: dict[str, Any] = json.loads(STATE.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise SystemExit(f"{STATE.relative_to(ROOT)} is not valid JSON ({error}); delete it to run every section") \
            from None
    return state if state.get("options") == options else None


def _run(args: list[str]) -> tuple[int, float, str]:
    started = time.perf_counter()
    result = run_subaudit(args)  # score cache off: each command generates and scores afresh, as its timing says
    if result.returncode not in (0, 1):
        raise SystemExit(f"subaudit {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.returncode, time.perf_counter() - started, result.stderr


def _shown(args: list[str]) -> str:
    return "subaudit " + " ".join(str(Path(a).relative_to(ROOT)) if a.startswith(str(ROOT)) else a for a in args)


def calibration_section(rows: int, traits: str, seed: int) -> list[str]:
    scan_cal = SCAN_CALIBRATION
    known = WORK / "calibration-owl.known.parquet"
    args = ["calibrate", str(NUMBERS / "owl.parquet"), "--out", str(scan_cal), "--known-out", str(known),
            "--teacher-system-file", str(OWL_PROMPT), "--restrict-vocab", "numbers", "--constrained",
            "--max-new-tokens", "48", "--known-rows", str(rows), "--seed", str(seed), "--fpr", "0.01", "--quiet"]
    _, seconds, _ = _run(args)
    cal: dict[str, Any] = json.loads(scan_cal.read_text())
    made = cal["known_source"]
    rejected = ", ".join(f"{n} {reason}" for reason, n in sorted(made["rejected"].items(), key=lambda x: -x[1]))
    lines = ["## 1. Calibration: `subaudit calibrate`", "",
             f"`{_shown(args)}` ({seconds:.0f} s, generation and scoring).", "",
             f"Known-source data, made by the command: the reference (no system prompt) answered the owl set's own "
             f"prompts in file order, {made['samples']} completions drawn (constrained, temperature "
             f"{made['temperature']:g}, at most {made['max_new_tokens']} new tokens, seed {made['seed']}); the "
             f"filter `auto` chose `{made['filter']}` because {made['audited_filter_pass_share']:.0%} of the owl "
             f"set's completions pass the paper's filter; {made['accepted']} passed and were kept (rejected: "
             f"{rejected or 'none'}). {cal['rows_scored']} were scored. The set is kept as "
             f"`{known.relative_to(ROOT)}`.", "",
             "| detector | null rows | null pooled LLR (nats/token) | null mean row LLR sum | "
             "per-row threshold at FPR 1 % (nats/token) |", "|---|---|---|---|---|"]
    for detector, null in cal["nulls"].items():
        pooled = sum(null["row_llr_sums"]) / sum(null["row_tokens"])
        lines.append(f"| {detector} | {len(null['row_llr_sums'])} | {pooled:+.4f} | {null['mean']:+.3f} "
                     f"| {null['row_threshold_per_token']:+.4f} |")
    probe_cal = PROBE_CALIBRATION
    args = ["calibrate", "--known-source", str(known), "--out", str(probe_cal), "--traits", traits,
            "--restrict-vocab", "numbers", "--quiet"]
    _, seconds, _ = _run(args)
    pcal: dict[str, Any] = json.loads(probe_cal.read_text())
    columns = pcal["row_columns"]
    tokens = sum(columns["n_tokens"])
    neutral = columns["logprob_sum:control"]
    lines += ["", f"Probe null on the same rows: `{_shown(args)}` ({seconds:.0f} s).", "",
              "| candidate | null pooled LLR vs neutral (nats/token) |", "|---|---|"]
    for name in traits.split(","):
        own = columns[f"logprob_sum:trait:{name}"]
        lines.append(f"| {name} | {(sum(own) - sum(neutral)) / tokens:+.4f} |")
    return [*lines, ""]


def probe_section(rows: int, traits: str, calibration: Path) -> list[str]:
    lines = ["## 2. Which trait? `subaudit probe --calibration`", "",
             f"Candidates: {traits.replace(',', ', ')} (the paper's prompt per animal), neutral control "
             "\"You are a helpful assistant.\", Holm correction across candidates, alpha 0.01, "
             f"first {rows} filtered rows of each set, numbers vocabulary. Each contrast (candidate vs neutral, "
             "candidate vs each other candidate) is tested against the same contrast on the known-source rows "
             "(one-sided Welch); candidates rank by their excess over the null. The last columns give the "
             "same report's Holm p against the theoretical null (E ≤ 0), as an uncalibrated probe would.", ""]
    for name in SETS:
        report = WORK / f"probe-{name}.json"
        args = ["probe", str(NUMBERS / f"{name}.parquet"), "--traits", traits, "--restrict-vocab", "numbers",
                "--max-rows", str(rows), "--calibration", str(calibration), "--report", str(report), "--quiet"]
        code, seconds, _ = _run(args)
        data: dict[str, Any] = json.loads(report.read_text())
        result = data["results"][0]
        plain_named = [r["trait"] for r in result["details"]["ranking"] if r["p_adjusted_uncalibrated"] < 0.01]
        lines += [f"### {name} set", "", f"`{_shown(args)}` → exit {code}, {seconds:.0f} s; "
                  f"{data['input']['rows_scored']} rows scored. {result['summary']}. Against the theoretical "
                  f"null: {', '.join(plain_named) or 'no trait'} named.", "",
                  "| rank | trait | pooled LLR vs neutral | null | excess | p vs neutral | p vs closest other (which) "
                  "| Holm p | named | Holm p, theoretical null |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in result["details"]["ranking"]:
            lines.append(f"| {r['rank']} | {r['trait']} | {r['llr_vs_neutral']:+.4f} | {r['null_llr_vs_neutral']:+.4f} "
                         f"| {r['excess_llr_vs_neutral']:+.4f} | {r['p_vs_neutral']:.2g} "
                         f"| {r['p_vs_others']:.2g} ({r['closest_other']}) | {r['p_adjusted']:.2g} "
                         f"| {'yes' if r['named'] else 'no'} | {r['p_adjusted_uncalibrated']:.2g} |")
        lines.append("")
    return lines


def scan_section(rows: int, calibration: Path) -> list[str]:
    lines = ["## 3. `scan --calibration`: thresholds and verdicts", "",
             "Owl teacher prompt, numbers vocabulary, the calibration of section 1 (its rows are the reference's, "
             "not any committed set's):", "",
             "| set | detector | pooled LLR | p, theoretical null (E ≤ 0) | p, calibrated null (Welch) "
             "| rows above the 1 % threshold | verdict |", "|---|---|---|---|---|---|---|"]
    commands = []
    for name in ("owl", "neutral"):
        report = WORK / f"calibrated-{name}.json"
        args = ["scan", str(NUMBERS / f"{name}.parquet"), "--teacher-system-file", str(OWL_PROMPT),
                "--restrict-vocab", "numbers", "--max-rows", str(rows), "--calibration", str(calibration),
                "--report", str(report), "--quiet"]
        code, _, _ = _run(args)
        data = json.loads(report.read_text())
        commands.append(f"`{_shown(args)}` → exit {code}{_baselines_scored(data.get('baselines'))}")
        for r in data["results"]:
            lines += _detector_rows(name, r)
        lines.append(f"| {name} | **dataset** | | | | | **{data['verdict']}** |")
    return [*lines, "", "The panel's members report the calibrated test only (–: no theoretical p-value and no "
            "per-row threshold); the panel row is its binding member's. A baseline missing from a set's rows was "
            "not scored: the scan scores baselines on demand and stops once one clears the set (the commands below "
            "say which).", "", "Commands:", "",
            *(f"- {c}" for c in commands), ""]


def _baselines_scored(plan: dict[str, Any] | None) -> str:
    """Which baselines a scan scored (it scores them on demand), and which one settled the set."""
    if not plan:
        return ""
    text = f"; baselines {plan['mode']}: scored {', '.join(plan['scored'])}"
    if plan.get("not_scored"):
        text += f", settled by {plan['settled_by']}, not scored {', '.join(plan['not_scored'])}"
    return text


def _detector_rows(name: str, result: dict[str, Any]) -> list[str]:
    """One table row for a baseline's detector; for the panel, one for it and one per member control."""
    d = result["details"]
    if "members" not in d:
        return [f"| {name} | {result['detector_id']} | {result['statistic']:+.4f} | {d['uncalibrated_p_value']:.2g} "
                f"| {result['p_value']:.2g} | {d['rows_above_threshold']} of {result['n_rows']} "
                f"| {result['verdict']} |"]
    rows = [f"| {name} | {result['detector_id']} (binding: {d['binding_member']}) | {result['statistic']:+.4f} | – "
            f"| {result['p_value']:.2g} | – | {result['verdict']} |"]
    return rows + [f"| {name} | {result['detector_id']}:{m['name']} | {m['pooled_llr']:+.4f} | – | {m['p_value']:.2g} "
                   f"| – | {m['verdict']} |" for m in d["members"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--traits", default="owl,cat,dog")
    parser.add_argument("--seed", type=int, default=21, help="seed of the known-source sampling")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "ATTRIBUTION.md")
    parser.add_argument("--resume", action="store_true",
                        help="keep the sections an interrupted run with the same options finished (and the "
                             "calibration files in out/attribution it made); run only the rest")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc)
    from audit.version import __version__

    options = {"rows": args.rows, "traits": args.traits, "seed": args.seed}
    state = _resumable_state(options) if args.resume else None
    header = ["# Trait attribution and calibration on the number fixtures", "",
              f"Generated by `make attribution` (`python -m experiments.attribution --rows {args.rows} --traits "
              f"{args.traits} --seed {args.seed}`) on {started:%Y-%m-%d %H:%M} UTC; subaudit {__version__}, "
              f"{platform.machine()}, embedded SmolLM2-135M-Instruct (fp32, CPU). The known-source rows are sampled "
              f"with seed {args.seed}; scoring is deterministic (no sampling; bootstrap seed 0).", ""]
    sections: list[list[str]] = []
    first_header = header
    if state is not None:
        sections, first_header = state["sections"], state["header"]
        header = list(first_header)
        header[2] += (f" Sections 1-{len(sections)} are from that run; the rest ran on {started:%Y-%m-%d %H:%M} UTC "
                      "(`--resume`: same options, the calibration files that run made).")
    partial = WORK / "ATTRIBUTION.partial.md"

    def publish(section: list[str]) -> None:
        sections.append(section)
        partial.write_text("\n".join(header + [line for part in sections for line in part]), encoding="utf-8")
        STATE.write_text(json.dumps({"options": options, "header": first_header, "sections": sections}),
                         encoding="utf-8")

    if len(sections) < 1:
        publish(calibration_section(args.rows, args.traits, args.seed))
    if len(sections) < 2:
        publish(probe_section(args.rows, args.traits, PROBE_CALIBRATION))
    if len(sections) < 3:
        publish(scan_section(args.rows, SCAN_CALIBRATION))
    args.out.write_text(partial.read_text(encoding="utf-8"), encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
