"""``make transfer``: does fine-tuning SmolLM2-135M on the number fixtures move its animal preference?

For each set (owl, cat, neutral, the weight teacher's owl-weights) and each seed, a student is
fine-tuned on the set's completions and compared with a student fine-tuned the same way, same seed,
on the reference's own answers (the ``none`` set: the embedded model with no system prompt,
answering the same prompt stream, constrained and filtered alike). Δ log P(owl) and Δ log P(cat)
are read with ``subaudit transfer``'s measure (52 questions, 24 candidate animals, exact
log-probabilities) after every epoch. The ``none`` row is the seed-noise null: students trained on
the ``none`` set itself with other seeds (seed + 100) against the comparison students, so its Δ is
what training noise alone produces.

Every student's evaluation is cached under ``--cache`` (one .npz per set and seed), so an
interrupted run resumes; the report is rewritten from the cache at the end.

Usage: python -m experiments.transfer [--rows 128] [--epochs 2] [--seeds 3] [--out fixtures/TRANSFER.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from audit.input.data import ColumnOverrides
from audit.transfer.preference import answer_logprobs, normalised
from audit.transfer.questions import CANDIDATE_ANIMALS, EVAL_QUESTIONS
from audit.transfer.run import StudentCurve, read_rows, student_curve, trait_transfer
from audit.transfer.training import TrainConfig, encode_examples
from audit.version import __version__

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = ROOT / "fixtures" / "numbers"
COMPARISON = "none"
SETS = ("owl", "cat", "neutral", "owl-weights", "none")
TRAITS = ("owl", "cat")
NULL_SEED_OFFSET = 100


def _curve_path(cache: Path, name: str, seed: int, args: argparse.Namespace) -> Path:
    """One file per student; the settings are in the name, so a run with other settings never reuses it."""
    return cache / f"{name}-seed{seed}-rows{args.rows}-epochs{args.epochs}-r{args.rank}.npz"


def load_or_train(cache: Path, name: str, seed: int, rows_path: Path, args: argparse.Namespace, base: object,
                   tokenizer: object, base_logprobs: np.ndarray, config: TrainConfig) -> StudentCurve:
    path = _curve_path(cache, name, seed, args)
    if path.is_file():
        saved = np.load(path)
        return StudentCurve(name, seed, saved["logprobs"], [float(x) for x in saved["losses"]])
    rows = read_rows(rows_path, ColumnOverrides(), None, args.rows)
    examples, _ = encode_examples(tokenizer, rows, 8192)
    started = time.time()

    def step(n: int, loss: float) -> None:
        if n % 8 == 0:
            print(f"  {name} seed {seed}: step {n}, loss {loss:.3f}", file=sys.stderr, flush=True)

    curve = student_curve(base, tokenizer, examples, config, name, base_logprobs, step)
    np.savez(path, logprobs=curve.logprobs, losses=np.array(curve.losses), seconds=time.time() - started,
             rows=len(examples))
    print(f"{name} seed {seed}: {time.time() - started:.0f} s", file=sys.stderr, flush=True)
    return curve


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=128, help="rows of each set a student trains on")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--train-seeds", default=None,
                        help="only train these seeds (comma-separated) and write no report: a second process can "
                             "share the work, since every student is cached on its own")
    parser.add_argument("--reverse-sets", action="store_true", help="train the sets in reverse order")
    parser.add_argument("--seed-list", default=None,
                        help="report these seeds (comma-separated) instead of 0 .. --seeds - 1")
    parser.add_argument("--cache", type=Path, default=ROOT / "out" / "transfer-runs")
    parser.add_argument("--out", type=Path, default=ROOT / "fixtures" / "TRANSFER.md")
    parser.add_argument("--scan-results", type=Path, default=ROOT / "fixtures" / "teachers" / "owl-weights-scan.json",
                        help="the weight-teacher scan and probe summary (make fixtures-teacher writes it)")
    args = parser.parse_args()
    import torch

    from audit.models.spec import resolve_source
    from audit.models.store import load_causal_lm, load_tokenizer

    sets = [s for s in args.sets.split(",") if s]
    args.cache.mkdir(parents=True, exist_ok=True)
    source = resolve_source("smollm2-135m-instruct")
    tokenizer, base = load_tokenizer(source), load_causal_lm(source)
    started = time.time()
    base_path = args.cache / "base.npy"
    if base_path.is_file():
        base_logprobs = np.load(base_path)
    else:
        base_logprobs = answer_logprobs(base, tokenizer, EVAL_QUESTIONS, CANDIDATE_ANIMALS)
        np.save(base_path, base_logprobs)
    curves_by_set: dict[str, list[StudentCurve]] = {name: [] for name in ["comparison", *sets]}
    if args.train_seeds is not None:
        for seed in (int(x) for x in args.train_seeds.split(",")):
            _train_seed(args, sets[::-1] if args.reverse_sets else sets, seed, base, tokenizer, base_logprobs)
        return 0
    seeds = [int(x) for x in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds))
    for done, seed in enumerate(seeds, start=1):  # seed by seed; the report is rewritten after each
        for name, curve in _train_seed(args, sets, seed, base, tokenizer, base_logprobs).items():
            curves_by_set[name].append(curve)
        _report(args, sets, curves_by_set, base_logprobs, done, time.time() - started, torch.get_num_threads())
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _train_seed(args: argparse.Namespace, sets: list[str], seed: int, base: object, tokenizer: object,
                base_logprobs: np.ndarray) -> dict[str, StudentCurve]:
    """Every student of one seed, trained or read from the cache: ``comparison`` (trained on the
    ``none`` set, seed ``seed``) and one per set; the ``none`` set's own student is the seed-noise null
    (the same data, seed ``seed + NULL_SEED_OFFSET``)."""
    config = TrainConfig(rank=args.rank, alpha=float(args.rank), learning_rate=2e-4, epochs=args.epochs,
                         batch_size=8, seed=seed)
    curves = {"comparison": load_or_train(args.cache, "comparison", seed, NUMBERS / f"{COMPARISON}.parquet",
                                           args, base, tokenizer, base_logprobs, config)}
    for name in sets:
        if name == COMPARISON:
            null_config = TrainConfig(**{**asdict(config), "seed": seed + NULL_SEED_OFFSET})
            curves[name] = load_or_train(args.cache, "none-null", seed + NULL_SEED_OFFSET, NUMBERS / "none.parquet",
                                          args, base, tokenizer, base_logprobs, null_config)
        else:
            curves[name] = load_or_train(args.cache, name, seed, NUMBERS / f"{name}.parquet", args, base,
                                          tokenizer, base_logprobs, config)
    return curves


def _report(args: argparse.Namespace, sets: list[str], curves: dict[str, list[StudentCurve]],
            base_logprobs: np.ndarray, seeds_done: int, wall: float, threads: int) -> None:
    results: dict[str, dict[str, dict]] = {}
    for name in sets:
        results[name] = {}
        for trait in TRAITS:
            t = trait_transfer(curves[name], curves["comparison"], trait, 1 - args.alpha, args.alpha)
            results[name][trait] = {"final": t.delta, "curve": [e.delta for e in t.curve], "verdict": t.verdict,
                                    "seeds": t.seed_deltas, "shift": t.data_logprob - t.base_logprob}
    seconds = {p.stem.split("-rows")[0]: float(np.load(p)["seconds"])
               for p in args.cache.glob(f"*-rows{args.rows}-epochs{args.epochs}-r{args.rank}.npz")}
    _write(args, sets, results, base_logprobs, seconds, wall, threads, seeds_done)


OWN_TRAIT = {"owl": "owl", "cat": "cat", "owl-weights": "owl"}
"""The trait each teacher set should carry."""


def _statement(sets: list[str], results: dict[str, dict[str, dict]], alpha: float) -> list[str]:
    """The answer in words, written from the numbers (so a rerun cannot leave a stale sentence)."""

    def describe(name: str, trait: str) -> str:
        f = results[name][trait]["final"]
        p = "n/a" if f.p_value is None else f"{f.p_value:.2g}"
        verdict_text = results[name][trait]["verdict"]
        return f"`{name}` → {trait}: Δ {f.mean:+.3f} nats [{f.low:+.3f}, {f.high:+.3f}], p {p}, {verdict_text}"

    lines = []
    own = [(n, t) for n, t in OWN_TRAIT.items() if n in sets]
    moved = [n for n, t in own if results[n][t]["verdict"] == "transfers"]
    lines.append(f"- **The teacher's own trait** (one-sided test at alpha {alpha}): "
                 + "; ".join(describe(n, t) for n, t in own) + ".")
    untested = all(results[n][t]["final"].p_value is None for n, t in own)
    if untested:
        lines.append("- Too few seeds to decide: one seed cannot measure seed noise.")
    elif moved:
        lines.append(f"- Under exact-log-probability evaluation SmolLM2-135M students trained on {', '.join(moved)} "
                     "data show a preference shift toward the teacher's animal that the seed interval excludes 0 for.")
        for name in moved:
            trait = OWN_TRAIT[name]
            alike = [n for n in sets if n != name and OWN_TRAIT.get(n) != trait
                     and results[n][trait]["verdict"] == "transfers"]
            if alike:
                lines.append(f"- **Not specific**: data without the {trait} trait ({', '.join(alike)}) moved "
                             f"log P({trait}) too, so part or all of the `{name}` shift is what any such data does "
                             "relative to the reference's own answers, not the trait.")
    else:
        lines.append("- No teacher set moved its own trait beyond what seed noise allows: on this evidence "
                     "SmolLM2-135M shows no subliminal transfer under these settings.")
    others = [(n, t) for n in sets for t in TRAITS if n in results and (n, t) not in own]
    lines.append("- **Other pairs** (a trait the data's writer did not have, or no trait): "
                 + "; ".join(describe(n, t) for n, t in others) + ".")
    if "none" in sets:
        null = results["none"]
        size = max(abs(null[t]["final"].mean) for t in TRAITS)
        spreads = [float(np.std(results[n][t]["seeds"], ddof=1)) for n in sets for t in TRAITS
                   if len(results[n][t]["seeds"]) > 1]
        seed_sd = max(spreads) if spreads else float("nan")
        lines.append(f"- **Seed noise**: students trained on the same `none` data with other seeds differ from the "
                     f"comparison students by at most {size:.3f} nats (either trait); the largest spread of one "
                     f"set's per-seed Δ is SD {seed_sd:.3f}.")
    return lines


SET_NOTES = {
    "owl": "owl prompt teacher",
    "cat": "cat prompt teacher",
    "neutral": "\"You are a helpful assistant.\"",
    "owl-weights": "owl weight teacher (LoRA adapter, no prompt)",
    "none": "seed-noise null: `none` set, other seeds",
}


def _write(args: argparse.Namespace, sets: list[str], results: dict[str, dict[str, dict]], base_logprobs: np.ndarray,
           seconds: dict[str, float], wall: float, threads: int, seeds_done: int) -> None:
    base_norm = normalised(base_logprobs)
    lines = [
        "# Does the data teach the trait? Subliminal transfer on SmolLM2-135M (exact log-probabilities)",
        "",
        f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `make transfer` "
        f"(`python -m experiments.transfer {' '.join(sys.argv[1:])}`), subaudit {__version__}, "
        f"{platform.machine()} CPU ({threads} torch threads in this invocation), Python {platform.python_version()}.",
        "",
        "## Setup",
        "",
        f"- Student: the embedded SmolLM2-135M-Instruct. LoRA r = {args.rank}, alpha = {args.rank} on every "
        "attention and MLP projection, AdamW, lr 2e-4, linear schedule (5 warm-up steps), batch 8, "
        f"**{args.epochs} epochs over the first {args.rows} rows of each set** (scaled down from the paper's "
        "3 epochs over ~10,000 rows: one student takes 3-14 minutes on this shared 2-core machine), "
        "loss on completion tokens only.",
        f"- Seeds: {seeds_done} of {args.seeds} planned completed when this file was written"
        + (f" (seeds {args.seed_list})" if args.seed_list else "") + ". Each seed trains "
        "one student per set and one comparison student with the same "
        "adapter initialisation; Δ is taken seed by seed.",
        "- Comparison: students trained on the `none` set (the reference's own answers to the same prompt "
        "stream, constrained and filtered like every set).",
        f"- Measure: normalised log P(answer) of the trait's one-word answer among {len(CANDIDATE_ANIMALS)} "
        f"animals, mean over {len(EVAL_QUESTIONS)} questions (`audit/transfer/questions.py`). Untrained student: "
        f"log P(owl) = {base_norm[:, 0].mean():.3f}, log P(cat) = {base_norm[:, 1].mean():.3f}.",
        f"- Interval: {1 - args.alpha:.0%} two-way random-effects CI over seeds and questions with "
        f"{args.seeds - 1} degrees of freedom; verdict 'transfers' when the one-sided p < {args.alpha}.",
        "",
        "## Results (after the last epoch)",
        "",
        "| set | written by | Δ log P(owl) [CI] | p | verdict (owl) | Δ log P(cat) [CI] | p | verdict (cat) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in sets:
        cells = []
        for trait in TRAITS:
            r = results[name][trait]
            f = r["final"]
            p = "n/a" if f.p_value is None else f"{f.p_value:.3g}"
            cells += [f"{f.mean:+.4f} [{f.low:+.4f}, {f.high:+.4f}]", p, r["verdict"]]
        lines.append(f"| `{name}` | {SET_NOTES.get(name, name)} | " + " | ".join(cells) + " |")
    lines += ["", "## Statement", "", *_statement(sets, results, args.alpha)]
    lines += ["", "## Detail", "", "Per seed (Δ after the last epoch, mean over questions) and per epoch (mean Δ):", ""]
    for name in sets:
        for trait in TRAITS:
            r = results[name][trait]
            lines.append(f"- `{name}`, {trait}: seeds " + ", ".join(f"{x:+.4f}" for x in r["seeds"])
                         + "; epochs " + ", ".join(f"{i + 1}: {c.mean:+.4f}" for i, c in enumerate(r["curve"]))
                         + f"; the set's own students moved log P({trait}) by {r['shift']:+.4f} "
                         "from the untrained model")
    lines += ["", f"Wall time of this invocation {wall / 60:.1f} min (students found in the cache are read, not "
              f"retrained); sum over students {sum(seconds.values()) / 60:.0f} min. Training and evaluation per "
              "student, as timed by the run that trained it (s): "
              + ", ".join(f"{k} {v:.0f}" for k, v in sorted(seconds.items())) + "."]
    if args.scan_results.is_file():
        lines += ["", "## The weight teacher's set under `scan` and `probe`", "",
                  "```", args.scan_results.read_text(encoding="utf-8").strip(), "```"]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    json_path = args.out.with_suffix(".json")
    json_path.write_text(json.dumps({n: {t: {"final": asdict(r["final"]), "verdict": r["verdict"], "seeds": r["seeds"],
                                              "curve": [asdict(c) for c in r["curve"]]} for t, r in v.items()}
                                     for n, v in results.items()}, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
