"""Does scrubbing remove what the data teach? ``subaudit transfer``'s measure before and after a scrub (issue 28).

The owl weight teacher's number set (written by the owl LoRA, no prompt) is scrubbed as ``subaudit scrub
--replace-tokens BUDGET --control-out`` scrubs it (the first ``--scrub-rows`` rows, scanned with the adapter),
and students are fine-tuned on three versions of the same rows, seed by seed: unscrubbed, scrubbed, and the
random control (as many random tokens rewritten by the same rule). Each is compared with a student trained the
same way on the reference's own answers (the ``none`` set), as ``make transfer`` does.

First a search: the transfer run is scaled up (rows, epochs, seeds; the ``LADDER``) until the *unscrubbed* set
transfers its own trait (owl, one-sided p < 0.01) and not the other animal's (cat, p >= 0.05): a scrub can only
be judged on data that teach something. Only then are the scrubbed and random students trained, at that
setting, with the same seeds. The search stops when the students trained so far took ``--hours`` of machine
time (their own recorded seconds, over every run of this script); the file then says where it stopped. Every
student is cached under ``--cache`` (out/scrub-transfer), so an interrupted run resumes.

Usage: python -m experiments.scrub_transfer [--budget 0.1] [--hours 4]   (make scrub-transfer)
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from experiments.cli_run import score_cache_off

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "fixtures" / "numbers" / "owl-weights.parquet"
ADAPTER = ROOT / "fixtures" / "teachers" / "owl-lora"
COMPARISON = ROOT / "fixtures" / "numbers" / "none.parquet"
OUT = ROOT / "fixtures" / "SCRUB-TRANSFER.md"
LADDER = ((128, 2, 3), (128, 2, 5), (256, 2, 5), (256, 3, 5))
"""(rows, epochs, seeds) tried in order until the unscrubbed set transfers."""
OWN, OTHER = "owl", "cat"
TRANSFERS_AT, OTHER_CLEAR_AT = 0.01, 0.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=0.1, help="--replace-tokens share")
    parser.add_argument("--scrub-rows", type=int, default=256, help="rows scanned and scrubbed (>= the ladder's rows)")
    parser.add_argument("--hours", type=float, default=4.0, help="machine time the students may take, all runs")
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--cache", type=Path, default=ROOT / "out" / "scrub-transfer")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: write the file from the students cached so far (where a run stopped)")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc)
    versions = scrubbed_versions(args)
    search, chosen = run_search(args, versions)
    write(args, started, versions, search, chosen)
    print(f"wrote {args.out.relative_to(ROOT)}", file=sys.stderr)
    return 0


def scrubbed_versions(args: argparse.Namespace) -> dict[str, Path]:
    """The three training sets: unscrubbed, scrubbed and random (scrubbed once, then read from the cache)."""
    from audit import Input, Models, Scrub, ScrubRequest, scrub

    score_cache_off()  # the scrub scores afresh
    stem = f"owl-weights-tokens{args.budget:g}-rows{args.scrub_rows}"
    scrubbed, control = args.cache / f"{stem}.parquet", args.cache / f"{stem}-control.parquet"
    report = args.cache / f"{stem}.json"
    if not (scrubbed.is_file() and control.is_file() and report.is_file()):
        scrub(ScrubRequest(Input(DATA, max_rows=args.scrub_rows),
                           Scrub(out=scrubbed, replace_tokens=args.budget, report=report, control_out=control,
                                 force=True), Models(teacher_adapter=str(ADAPTER))))
    return {"unscrubbed": DATA, "scrubbed": scrubbed, "random": control, "report": report}


def spent(args: argparse.Namespace) -> float:
    """Seconds every cached student took to train and evaluate (every run of this script)."""
    return sum(float(np.load(path)["seconds"]) for path in args.cache.glob("*.npz"))


def students(args: argparse.Namespace, name: str, path: Path, rows: int, epochs: int, seeds: int,
             context: dict[str, object]) -> list[object] | None:
    """One student per seed (trained or read from the cache); None once the time budget is spent."""
    from audit.transfer.training import TrainConfig
    from experiments.transfer import load_or_train

    settings = argparse.Namespace(rows=rows, epochs=epochs, rank=args.rank)
    curves = []
    for seed in range(seeds):
        cached = args.cache / f"{name}-seed{seed}-rows{rows}-epochs{epochs}-r{args.rank}.npz"
        if not cached.is_file() and (args.report_only or spent(args) > args.hours * 3600):
            return None
        config = TrainConfig(rank=args.rank, alpha=float(args.rank), learning_rate=2e-4, epochs=epochs, batch_size=8,
                             seed=seed)
        curves.append(load_or_train(args.cache, name, seed, path, settings, context["base"], context["tokenizer"],
                                    context["base_logprobs"], config))  # type: ignore[arg-type]
    return curves


def run_search(args: argparse.Namespace, versions: dict[str, Path]) -> tuple[list[dict], dict | None]:
    """Climb the ladder on the unscrubbed set; at the first setting where it transfers, train the other two."""
    from audit.models.spec import resolve_source
    from audit.models.store import load_causal_lm, load_tokenizer
    from audit.transfer.preference import answer_logprobs
    from audit.transfer.questions import CANDIDATE_ANIMALS, EVAL_QUESTIONS
    from audit.transfer.run import trait_transfer

    source = resolve_source("smollm2-135m-instruct")
    tokenizer, base = load_tokenizer(source), load_causal_lm(source)
    base_path = args.cache / "base.npy"
    if not base_path.is_file():
        np.save(base_path, answer_logprobs(base, tokenizer, EVAL_QUESTIONS, CANDIDATE_ANIMALS))
    context = {"base": base, "tokenizer": tokenizer, "base_logprobs": np.load(base_path)}
    search: list[dict] = []
    for rows, epochs, seeds in LADDER:
        step: dict = {"rows": rows, "epochs": epochs, "seeds": seeds, "results": {}}
        search.append(step)
        comparison = students(args, "comparison", COMPARISON, rows, epochs, seeds, context)
        unscrubbed = students(args, "unscrubbed", versions["unscrubbed"], rows, epochs, seeds, context)
        if comparison is None or unscrubbed is None:
            step["stopped"] = True
            return search, None
        step["results"]["unscrubbed"] = {t: trait_transfer(unscrubbed, comparison, t, 0.95, 0.05)  # type: ignore[arg-type]
                                         for t in (OWN, OTHER)}
        own, other = step["results"]["unscrubbed"][OWN].delta, step["results"]["unscrubbed"][OTHER].delta
        print(f"rows {rows} epochs {epochs} seeds {seeds}: owl p {own.p_value}, cat p {other.p_value}",
              file=sys.stderr, flush=True)
        if own.p_value is not None and own.p_value < TRANSFERS_AT and (other.p_value or 1.0) >= OTHER_CLEAR_AT:
            for name in ("scrubbed", "random"):
                curves = students(args, name, versions[name], rows, epochs, seeds, context)
                if curves is None:
                    step["stopped"] = True
                    return search, None
                step["results"][name] = {t: trait_transfer(curves, comparison, t, 0.95, 0.05)  # type: ignore[arg-type]
                                         for t in (OWN, OTHER)}
            return search, step
    return search, None


def write(args: argparse.Namespace, started: datetime, versions: dict[str, Path], search: list[dict],
          chosen: dict | None) -> None:
    from audit.scrubbing.report import ScrubReport

    scrubbed = ScrubReport.model_validate_json(versions["report"].read_text(encoding="utf-8"))
    rewrite, held = scrubbed.rewrite, scrubbed.held_back
    assert rewrite is not None and scrubbed.random_rewrite is not None
    command = (f"python -m experiments.scrub_transfer --budget {args.budget:g} --hours {args.hours:g}"
               + (" --report-only" if args.report_only else ""))
    lines = [
        "# Does a token scrub remove what the weight teacher's data teach?", "",
        f"Generated by `make scrub-transfer` (`{command}`), started {started:%Y-%m-%d %H:%M} UTC; "
        f"{platform.machine()}, Python {platform.python_version()}; students: the embedded SmolLM2-135M, LoRA r "
        f"{args.rank}, lr 2e-4, batch 8, loss on completion tokens (as `make transfer`); measure: normalised log "
        "P(answer) among 24 animals over 52 questions, Δ against students trained alike on the `none` set, 95 % "
        "interval over seeds and questions, one-sided p.", "",
        "## The scrub", "",
        f"`subaudit scrub fixtures/numbers/owl-weights.parquet --teacher-adapter fixtures/teachers/owl-lora "
        f"--max-rows {args.scrub_rows} --replace-tokens {args.budget:g} --control-out ... --force` "
        f"(scan verdict {scrubbed.scan_verdict.value}; binding baseline {scrubbed.binding_baseline}): "
        f"{rewrite.tokens_changed} of {scrubbed.tokens_scored} tokens changed ({scrubbed.cost_tokens:.1%}) in "
        f"{rewrite.rows_changed} rows, {len(rewrite.rows_failing_filter)} rows now failing the number filter; "
        f"random control {scrubbed.random_rewrite.tokens_changed} tokens in {scrubbed.random_rewrite.rows_changed} "
        f"rows. Held-back residual LLR {held.before.residual_llr:+.4f} ({held.before.verdict.value}) → "
        f"{held.after.residual_llr:+.4f} ({held.after.verdict.value}); random "
        f"{held.random_control.residual_llr:+.4f} ({held.random_control.verdict.value}).", "",
        "## The search (unscrubbed set: does it teach owl, and not cat?)", "",
        "| rows | epochs | seeds | Δ log P(owl) [95 % CI], p | Δ log P(cat) [95 % CI], p | |",
        "|---|---|---|---|---|---|"]
    for step in search:
        found = step["results"].get("unscrubbed")
        if found is None:
            why = ("the run was stopped (students cached so far written with --report-only)" if args.report_only
                   else f"the {args.hours:g} h budget was spent")
            lines.append(f"| {step['rows']} | {step['epochs']} | {step['seeds']} | — | — | stopped: {why} before this "
                         "setting's students were all trained |")
            continue
        mark = "transfers: chosen" if step is chosen else "not enough"
        lines.append(f"| {step['rows']} | {step['epochs']} | {step['seeds']} | {cell(found[OWN].delta)} | "
                     f"{cell(found[OTHER].delta)} | {mark} |")
    lines += ["", "## Before and after the scrub", ""]
    if chosen is None:
        lines.append("Not reached: the unscrubbed set did not transfer at p < 0.01 within the settings trained so "
                     "far, so scrubbed and random students were not trained (a scrub cannot be judged on data that "
                     "teach nothing measurable).")
    else:
        lines += ["| data | Δ log P(owl) [95 % CI], p | verdict | Δ log P(cat) [95 % CI], p |", "|---|---|---|---|"]
        for name in ("unscrubbed", "scrubbed", "random"):
            result = chosen["results"][name]
            lines.append(f"| {name} | {cell(result[OWN].delta)} | {result[OWN].verdict} | "
                         f"{cell(result[OTHER].delta)} |")
    lines += ["", f"Machine time of the students trained so far (every run): {spent(args) / 60:.0f} min of the "
              f"{args.hours:g} h budget.", ""]
    args.out.write_text("\n".join(lines), encoding="utf-8")


def cell(delta: object) -> str:
    mean, low, high, p = (getattr(delta, k) for k in ("mean", "low", "high", "p_value"))
    return f"{mean:+.4f} [{low:+.4f}, {high:+.4f}], p {'n/a' if p is None else f'{p:.2g}'}"


if __name__ == "__main__":
    started_at = time.time()
    code = main()
    print(f"{time.time() - started_at:.0f} s", file=sys.stderr)
    raise SystemExit(code)
