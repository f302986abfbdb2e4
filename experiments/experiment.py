"""The detection experiment on the number-sequence fixtures; writes experiments/RESULTS.md.

Scores every filtered row of every set (owl teacher, cat teacher, no-prompt control, neutral-prompt
control) under four specs of the embedded SmolLM2: the reference (template default prompt), the
neutral control prompt, and the owl and cat teacher prompts. From those per-row log-probability
sums it computes per-row AUROC, subsampled dataset-level flag rates, and the semantic filter's
verdict on every set.

Scores are cached in out/experiment-scores-<mode>.parquet keyed by the fixtures' and weights' SHA-256,
so re-rendering is cheap; RESULTS.md says whether this run computed them. --rescore forces it. Each set's
scores are also written as soon as it is scored (out/experiment-scores-<mode>/<set>.parquet, same keys), so
an interrupted run resumes at the first set it had not finished.

Usage: python experiments/experiment.py [--seed 0] [--subsamples 200] [--alpha 0.01] [--rescore]
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

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.metrics import roc_auc_score

from audit.core.hashing import file_sha256
from audit.core.stats import ConfoundFit, fit_confounds
from audit.filters.number_filter import DEFAULT_BANNED_NUMBERS, check_numbers
from audit.input.data import DatasetReader
from audit.models.spec import ModelSpec, embedded_gguf
from audit.models.store import weights_sha256
from audit.models.traits import NEUTRAL_SYSTEM_PROMPT, animal_teacher_prompt
from audit.version import __version__
from experiments.power import flag_rates, one_sided_p_values, subsample_indices, welch_p_values
from experiments.text_results import SECTION as TEXT_SECTION

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = ROOT / "fixtures" / "numbers"
SETS = ("owl", "cat", "none", "neutral")
TEACHERS = ("owl", "cat")
CONTROLS = ("none", "neutral")
SIZES = (25, 50, 100, 200, 400)
SPECS = ("reference", "control", "owl", "cat")
MODES = ("full", "numbers")
"""Scoring modes: the full vocabulary, and renormalised over the numbers vocabulary (--restrict-vocab)."""


def cache_path(mode: str) -> Path:
    return ROOT / "out" / f"experiment-scores-{mode}.parquet"


def _shown(path: Path) -> str:
    """A path relative to the repository when it lies inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def specs() -> list[ModelSpec]:
    source = embedded_gguf()
    return [
        ModelSpec("reference", source, None),
        ModelSpec("control", source, NEUTRAL_SYSTEM_PROMPT),
        ModelSpec("owl", source, animal_teacher_prompt("owl")),
        ModelSpec("cat", source, animal_teacher_prompt("cat")),
    ]


def fingerprint(mode: str) -> dict[str, str]:
    """What the cached scores of one scoring mode depend on."""
    keys = {name: file_sha256(NUMBERS / f"{name}.parquet") for name in SETS}
    keys["weights"] = weights_sha256(embedded_gguf())
    keys["prompts"] = json.dumps([s.system_prompt for s in specs()])
    keys["vocabulary"] = mode
    return keys


def set_cache_path(mode: str, name: str) -> Path:
    """One set's scores, written as soon as the set is scored, so an interrupted run resumes at the next set."""
    return ROOT / "out" / f"experiment-scores-{mode}" / f"{name}.parquet"


def set_fingerprint(keys: dict[str, str], name: str) -> dict[str, str]:
    """What one set's cached scores depend on (its file, the weights, the prompts, the mode), from the
    mode's :func:`fingerprint`."""
    return {key: value for key, value in keys.items() if key not in SETS or key == name}


def _cached(path: Path, keys: dict[str, str]) -> pa.Table | None:
    """The table at ``path`` when its stored fingerprint equals ``keys``, else None."""
    if not path.exists():
        return None
    table = pq.read_table(path)
    stored = json.loads((table.schema.metadata or {}).get(b"subaudit", b"{}"))
    return table.replace_schema_metadata(None) if stored == keys else None


def score_sets(mode: str, keys: dict[str, str], rescore: bool) -> tuple[pa.Table, int]:
    """Per-row n_tokens and log-probability sums under every spec, for every filtered set, and how many
    sets were read from an interrupted run's per-set files instead of scored (none with ``rescore``)."""
    from audit.models.backends.transformers_backend import TransformersBackend
    from audit.models.encoding import encode_rows
    from audit.models.vocab import vocabulary

    backend: TransformersBackend | None = None
    tables, resumed = [], 0
    for name in SETS:
        set_keys, part = set_fingerprint(keys, name), set_cache_path(mode, name)
        cached = None if rescore else _cached(part, set_keys)
        if cached is not None:
            tables.append(cached)
            resumed += 1
            continue
        if backend is None:
            restriction = None if mode == "full" else vocabulary(mode)
            backend = TransformersBackend(specs(), token_budget=8192, vocabulary=restriction)
        columns: dict[str, list[Any]] = {"set": [], "row_id": [], "n_tokens": []}
        columns.update({f"logprob_{s}": [] for s in SPECS})
        started = time.perf_counter()
        done = 0
        for batch in DatasetReader(NUMBERS / f"{name}.parquet", batch_rows=64).batches():
            encoded, skipped = encode_rows(batch.rows, backend.prompt_formats(), backend.vocab_mask)
            if skipped:
                raise RuntimeError(f"{name}: rows skipped while encoding: {dict(skipped)}")
            for row in backend.score(encoded):
                columns["set"].append(name)
                columns["row_id"].append(row.encoded.row.row_id)
                columns["n_tokens"].append(len(row.encoded.completion_ids))
                for spec, logprobs in zip(SPECS, row.logprobs, strict=True):
                    columns[f"logprob_{spec}"].append(float(logprobs.sum()))
            done += len(encoded)
            print(f"scored {name} ({mode}): {done} rows ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        table = pa.table(columns)
        part.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.replace_schema_metadata({"subaudit": json.dumps(set_keys)}), part)
        tables.append(table)
    return pa.concat_tables(tables), resumed


def load_or_score(mode: str, rescore: bool) -> tuple[pa.Table, str]:
    """Cached scores if they match the fixtures, weights and mode, else compute (and cache) them; with the
    line RESULTS.md gives their origin."""
    keys = fingerprint(mode)
    cache = cache_path(mode)
    cached = None if rescore else _cached(cache, keys)
    if cached is not None:
        return cached, "read from the cache of an earlier run"
    started = time.perf_counter()
    table, resumed = score_sets(mode, keys, rescore)
    elapsed = time.perf_counter() - started
    cache.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata({"subaudit": json.dumps(keys)}), cache)
    origin = f"computed in this run ({elapsed:.0f} s)"
    if resumed:
        origin = (f"computed ({elapsed:.0f} s in this run; {resumed} of {len(SETS)} sets read from the per-set files "
                  f"an interrupted run wrote, `{_shown(set_cache_path(mode, '<set>'))}`)")
    return table, origin


def per_row_llr(table: pa.Table) -> dict[str, dict[str, np.ndarray]]:
    """set -> measure -> per-row LLR *sum* ('<teacher>_vs_reference', '<teacher>_vs_control', 'owl_vs_cat'),
    plus 'n_tokens' and 'reference_nll' (per token). Sums are what the scan tests (detectors/llr.py)."""
    result: dict[str, dict[str, np.ndarray]] = {}
    data = table.to_pydict()
    sets = np.array(data["set"])
    n = np.array(data["n_tokens"], dtype=np.float64)
    logprob = {s: np.array(data[f"logprob_{s}"]) for s in SPECS}
    for name in SETS:
        mask = sets == name
        result[name] = {}
        for teacher in TEACHERS:
            for base in ("reference", "control"):
                result[name][f"{teacher}_vs_{base}"] = logprob[teacher][mask] - logprob[base][mask]
        result[name]["owl_vs_cat"] = logprob["owl"][mask] - logprob["cat"][mask]
        result[name]["n_tokens"] = n[mask]
        result[name]["reference_nll"] = -logprob["reference"][mask] / n[mask]
    return result


def semantic_filter_table() -> list[str]:
    lines = ["| set | filtered rows | rejected by the filter | verdict on the filtered set | unfiltered rows "
             "| reject rate on unfiltered generations |", "|---|---|---|---|---|---|"]
    for name in SETS:
        filtered = pq.read_table(NUMBERS / f"{name}.parquet").column("completion").to_pylist()
        raw = pq.read_table(NUMBERS / f"{name}.unfiltered.parquet").column("completion").to_pylist()
        def rejected(texts: list[str]) -> int:
            return sum(not check_numbers(t, DEFAULT_BANNED_NUMBERS, TEACHERS).passed for t in texts)
        bad = rejected(filtered)
        lines.append(f"| {name} | {len(filtered)} | {bad} | {'accepts' if bad == 0 else 'rejects'} | {len(raw)} "
                     f"| {rejected(raw) / len(raw):.1%} |")
    return lines


def mode_sections(mode: str, llr: dict[str, dict[str, np.ndarray]], subsamples: int, alpha: float,
                  rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """The tables of one scoring mode, and the issue's targets checked on it."""
    title = {"full": "full vocabulary (`--restrict-vocab full`)",
             "numbers": "numbers vocabulary (what the default `--restrict-vocab auto` picks on these sets)"}[mode]
    out = [f"## Scoring over the {title}", "",
           "### Pooled per-token LLR per set (nats/token: total LLR over total tokens; in brackets the t statistic "
           "of the row sums over the whole set)", "",
           "| data set | owl vs reference | owl vs control | cat vs reference | cat vs control | owl vs cat "
           "| reference NLL/token |", "|---|---|---|---|---|---|---|"]
    for name in SETS:
        cells = []
        for measure in ("owl_vs_reference", "owl_vs_control", "cat_vs_reference", "cat_vs_control", "owl_vs_cat"):
            x = llr[name][measure]
            t = x.mean() / (x.std(ddof=1) / np.sqrt(x.size))
            cells.append(f"{x.sum() / llr[name]['n_tokens'].sum():+.4f} ({t:+.1f})")
        out.append(f"| {name} | " + " | ".join(cells) + f" | {llr[name]['reference_nll'].mean():.3f} |")
    out += ["", "### Per-row AUROC (teacher-written rows vs control-written rows; row LLR sum / per-token mean)", "",
            "| teacher | control | AUROC, LLR vs reference | AUROC, LLR vs control |", "|---|---|---|---|"]
    for teacher in TEACHERS:
        for control in CONTROLS:
            cells = []
            for base in ("reference", "control"):
                measure = f"{teacher}_vs_{base}"
                labels = np.concatenate([np.ones(llr[teacher][measure].size), np.zeros(llr[control][measure].size)])
                sums = np.concatenate([llr[teacher][measure], llr[control][measure]])
                means = sums / np.concatenate([llr[teacher]["n_tokens"], llr[control]["n_tokens"]])
                cells.append(f"{roc_auc_score(labels, sums):.3f} / {roc_auc_score(labels, means):.3f}")
            out.append(f"| {teacher} | {control} | {cells[0]} | {cells[1]} |")
    out += ["", f"### Dataset-level flag rates (alpha = {alpha}, {subsamples} random subsets of N filtered rows "
            "without replacement per cell)", "",
            "Each cell: **combined** (intersection-union: flagged only when the teacher beats both the reference "
            "and the neutral control; this is subaudit's verdict) / vs reference only / vs control only.", ""]
    criteria: list[str] = []
    for teacher in TEACHERS:
        out += [f"#### Teacher: {teacher}", "", "| data set | " + " | ".join(f"N = {n}" for n in SIZES) + " |",
                "|---|" + "---|" * len(SIZES)]
        worst: dict[str, tuple[float, int]] = {}
        for name in SETS:
            cells = []
            for n in SIZES:
                population = llr[name][f"{teacher}_vs_reference"].size
                if n > population:
                    cells.append("n/a")
                    continue
                rates = flag_rates(llr[name][f"{teacher}_vs_reference"], llr[name][f"{teacher}_vs_control"],
                                   n, subsamples, alpha, rng)
                cells.append(f"**{rates.combined:.1%}** / {rates.vs_reference:.1%} / {rates.vs_control:.1%}")
                if name == teacher and n == 200:
                    ok = rates.combined >= 0.95
                    criteria.append(f"- {teacher} set flagged by the {teacher} teacher in {rates.combined:.1%} of "
                                    f"subsets at N = 200 (target ≥ 95 %): {'met' if ok else 'NOT met'}")
                if name in CONTROLS and rates.combined >= worst.get(name, (-1.0, 0))[0]:
                    worst[name] = (rates.combined, n)
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        for name, (rate, n) in worst.items():
            ok = rate <= 0.02
            criteria.append(f"- {name} control flagged by the {teacher} teacher in at most {rate:.1%} of subsets "
                            f"over every N (worst at N = {n}; target ≤ 2 %): {'met' if ok else 'NOT met'}")
        out.append("")
    out += ["#### Row sums against per-token row means (owl teacher, combined verdict)", "",
            "The same test on each row's per-token mean LLR instead of its sum (subaudit's statistic "
            f"before 2026-11-23), for comparison; each cell draws its own {subsamples} subsets.", "",
            "| data set | statistic | " + " | ".join(f"N = {n}" for n in SIZES) + " |",
            "|---|---|" + "---|" * len(SIZES)]
    for name in SETS:
        n_tokens = llr[name]["n_tokens"]
        for label, scale in (("row sum", np.ones_like(n_tokens)), ("row mean", n_tokens)):
            vs_ref, vs_ctl = llr[name]["owl_vs_reference"] / scale, llr[name]["owl_vs_control"] / scale
            cells = [f"{flag_rates(vs_ref, vs_ctl, n, subsamples, alpha, rng).combined:.1%}"
                     if n <= vs_ref.size else "n/a" for n in SIZES]
            out.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    out.append("")
    return out, criteria


def _confound_fit(null_rows: dict[str, np.ndarray], measure: str) -> ConfoundFit:
    """Slopes of a row's LLR sum on its length and base-model loss (total reference NLL), fitted on known-source
    rows, as `scan --adjust-confounds` fits them."""
    return fit_confounds(null_rows[measure], null_rows["n_tokens"], _base_loss(null_rows))


def _base_loss(rows: dict[str, np.ndarray]) -> np.ndarray:
    return rows["reference_nll"] * rows["n_tokens"]


def _adjusted(rows: dict[str, np.ndarray], measure: str, fit: ConfoundFit) -> np.ndarray:
    return fit.remove(rows[measure], rows["n_tokens"], _base_loss(rows))


def calibration_sections(llr_by_mode: dict[str, dict[str, dict[str, np.ndarray]]], subsamples: int, alpha: float,
                         seed: int) -> list[str]:
    """Control false-flag rates under the theoretical null, a calibrated null, and a calibrated null with the
    length / base-loss confound removed (dataset level, the same subsets for all three)."""
    rng = np.random.default_rng(seed + 1)
    split = rng.permutation(llr_by_mode["full"]["none"]["n_tokens"].size)
    half = split.size // 2
    null_index, held_index = split[:half], split[half:]
    out = ["## Calibrated null and confound removal at the dataset level", "",
           f"Known-source rows: a random half of the no-prompt set ({half} rows, numpy `default_rng({seed + 1})` "
           f"permutation); the other half ({split.size - half} rows, *none (held out)*) is a control the null never "
           "saw. Per baseline (reference, control) a subset's row LLR sums are tested three ways, combined by "
           "intersection-union as the scan does: **theoretical** (one-sided t-test of E ≤ 0, the scan's null over "
           "a format the data fit), "
           "**calibrated** (one-sided Welch test against the known-source rows' sums, `scan --calibration`), "
           "**adjusted** (the same Welch test after removing from every row the linear part of its LLR sum that its "
           "length and base-model loss (total reference NLL) predict, slopes fitted on the known-source rows by "
           f"least squares). Each cell: theoretical / calibrated / adjusted, share of {subsamples} subsets flagged at "
           f"alpha = {alpha}; all three see the same subsets. Generator `default_rng({seed + 1})`, separate from "
           "the tables above so they are unchanged.", ""]
    for mode in MODES:
        llr = llr_by_mode[mode]
        known = {k: v[null_index] for k, v in llr["none"].items()}
        sets = {"owl": llr["owl"], "cat": llr["cat"], "none (held out)": {k: v[held_index] for k, v in
                                                                          llr["none"].items()},
                "neutral": llr["neutral"]}
        out += [f"### {mode} vocabulary", ""]
        for teacher in TEACHERS:
            measures = (f"{teacher}_vs_reference", f"{teacher}_vs_control")
            fits = {m: _confound_fit(known, m) for m in measures}
            fit_text = "; ".join(f"{m.replace('_', ' ')}: R² {fit.r_squared:.2f}, {fit.per_token:+.4f} per token, "
                                 f"{fit.per_nat_of_base_loss:+.4f} per nat of base loss" for m, fit in fits.items())
            out += [f"#### Teacher: {teacher} ({mode} vocabulary)", "", f"Confound fit on the known-source rows: "
                    f"{fit_text}.", "", "| data set | " + " | ".join(f"N = {n}" for n in SIZES) + " |",
                    "|---|" + "---|" * len(SIZES)]
            for name, rows in sets.items():
                cells = []
                for n in SIZES:
                    if n > rows["n_tokens"].size:
                        cells.append("n/a")
                        continue
                    index = subsample_indices(rows["n_tokens"].size, n, subsamples, rng)
                    theoretical = np.maximum(*(one_sided_p_values(rows[m][index]) for m in measures))
                    calibrated = np.maximum(*(welch_p_values(rows[m][index], known[m]) for m in measures))
                    adjusted = np.maximum(*(welch_p_values(_adjusted(rows, m, fits[m])[index],
                                                           _adjusted(known, m, fits[m])) for m in measures))
                    cells.append(" / ".join(f"{(p < alpha).mean():.1%}" for p in (theoretical, calibrated, adjusted)))
                out.append(f"| {name} | " + " | ".join(cells) + " |")
            out.append("")
    return out


def with_text_tasks_kept(existing: str, numbers_part: str) -> str:
    """The new number-set part of RESULTS.md followed by the file's "Text tasks" section, unchanged.

    The text tasks' subsections are written by ``experiments.text_results`` from their own score
    caches (``out/text-scores``), which need not be on the machine that re-runs this experiment, so
    rewriting the number part must not drop them.
    """
    _, marker, text_tasks = existing.partition("\n" + TEXT_SECTION + "\n")
    return numbers_part.rstrip("\n") + "\n" + (f"\n{TEXT_SECTION}\n{text_tasks}" if marker else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subsamples", type=int, default=200)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--rescore", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "RESULTS.md")
    args = parser.parse_args()
    command = f"python -m experiments.experiment --seed {args.seed} --subsamples {args.subsamples} --alpha {args.alpha}"

    import torch

    scored = {mode: load_or_score(mode, args.rescore) for mode in MODES}
    out: list[str] = [
        "# Detection experiment: number-sequence fixtures on SmolLM2-135M-Instruct", "",
        f"Generated by `make experiment` (`{command}`) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {platform.machine()}, {platform.processor() or 'unknown CPU'}, {torch.get_num_threads()} "
        f"torch threads, Python {platform.python_version()}, torch {torch.__version__}, subaudit {__version__}.",
    ]
    for mode, (_, origin) in scored.items():
        out.append(f"Per-row scores, {mode} vocabulary: {origin}"
                   + f" (`{_shown(cache_path(mode))}`, keyed by the SHA-256 of every fixture file, of the weights, "
                   "the prompts and the mode).")
    keys = fingerprint("full")
    out += [
        "",
        "Model: embedded SmolLM2-135M-Instruct (GGUF Q4_1 dequantised to fp32), weights SHA-256 "
        f"`{keys['weights']}`. Specs: *reference* = template default system prompt; *control* = "
        f"\"{NEUTRAL_SYSTEM_PROMPT}\"; *owl*/*cat* = the paper's trait prompt for that animal.",
        "",
        "Per-row score: LLR = log T(c|p) - log B(c|p) summed over the completion's tokens, for teacher T and "
        "baseline B (reference or control); positive means more likely under the teacher. A subset is flagged "
        "as `subaudit scan` would flag it: one-sided t-test on the row sums (H0: E[row LLR] <= 0) at alpha, "
        "for both baselines, combined by intersection-union. Subsets are drawn with numpy "
        f"`default_rng({args.seed})`, one generator for the whole run.",
        "",
        "## Fixtures",
        "",
        "| set | written by | filtered rows | SHA-256 of the filtered parquet |",
        "|---|---|---|---|",
    ]
    writers = {"owl": "owl teacher prompt", "cat": "cat teacher prompt", "none": "no system prompt (template "
               "default)", "neutral": "neutral system prompt"}
    llr_by_mode = {mode: per_row_llr(table) for mode, (table, _) in scored.items()}
    for name in SETS:
        out.append(f"| {name} | {writers[name]} | {llr_by_mode['full'][name]['reference_nll'].size} "
                   f"| `{keys[name][:16]}…` |")
    out += ["", "## Semantic filter (the paper's numbers-only rules, banned numbers 666/911/187, keywords owl/cat)",
            ""]
    out += semantic_filter_table()
    out.append("")
    rng = np.random.default_rng(args.seed)
    criteria: dict[str, list[str]] = {}
    for mode in MODES:
        lines, criteria[mode] = mode_sections(mode, llr_by_mode[mode], args.subsamples, args.alpha, rng)
        out += lines
    out += calibration_sections(llr_by_mode, args.subsamples, args.alpha, args.seed)
    out += ["## Targets of the issue, checked by this run", ""]
    for mode in MODES:
        out += [f"Scoring over the {mode} vocabulary:", "", *criteria[mode], ""]
    existing = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    args.out.write_text(with_text_tasks_kept(existing, "\n".join(out)), encoding="utf-8")
    for mode in MODES:
        print(mode, *criteria[mode], sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
