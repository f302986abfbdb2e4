"""`make learned`: train the learned detector on the number fixtures; write experiments/LEARNED.md.

Rows: the first --rows filtered rows of each number set (owl, cat, none, neutral), scored token by
token under the embedded SmolLM2 as reference and as the owl and the cat teacher, over the numbers
vocabulary (as `scan --restrict-vocab numbers`). Examples: for each teacher T in (owl, cat), T's own
set scored under T is positive; the none and neutral sets scored under T are negative (the controls
whose false flags matter). Features: detectors/learned.py.

Evaluation: 5-fold cross-validation grouped by prompt (the sets share one prompt stream, so a
prompt's rows never sit on both sides of a split), seeded. Each fold's held-out AUROC is computed
for the logistic regression and, on the same rows, for the plain per-row LLR (mean per token, and
sum) with no training at all. Confounds: how much of the plain LLR follows length and base-model
loss, within the negatives, and whether removing that linear part helps the plain LLR's AUROC.

The saved model (detectors/models/learned-llr.json) is fitted on every example; its null is the
out-of-fold decision values of the negatives (held out, so not flattered by the fit).

Usage: python -m experiments.learned [--rows 240] [--seed 0]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit.core.hashing import file_sha256  # noqa: E402
from audit.input.data import DatasetReader  # noqa: E402
from audit.models.spec import ModelSpec, embedded_gguf  # noqa: E402
from audit.models.store import weights_sha256  # noqa: E402
from audit.models.traits import animal_teacher_prompt  # noqa: E402
from audit.version import __version__  # noqa: E402
from detectors.learned import (  # noqa: E402
    DEFAULT_MODEL,
    FEATURES,
    LearnedModel,
    digit_flags,
    digit_token_ids,
    row_features,
)

NUMBERS = ROOT / "fixtures" / "numbers"
SETS = ("owl", "cat", "none", "neutral")
TEACHERS = ("owl", "cat")
NEGATIVES = ("none", "neutral")
FOLDS = 5


def cache_path(rows: int) -> Path:
    return ROOT / "out" / f"learned-tokens-{rows}.pkl"


def score_features(rows: int) -> tuple[dict[tuple[str, str], dict[str, Any]], str]:
    """(set, teacher) -> features, row LLR sums and group keys (prompt text) of each set's first rows; and where
    the token scores came from (scored now, or read from the cache, with the seconds their scoring took).

    The token-level scores are cached under out/ (keyed by the fixtures' and weights' hashes), so
    a change of features or model does not rescore.
    """
    import pickle

    keys = {n: file_sha256(NUMBERS / f"{n}.parquet") for n in SETS}
    keys["weights"] = weights_sha256(embedded_gguf())
    cache = cache_path(rows)
    tokens = None
    source = ""
    if cache.exists():
        stored = pickle.loads(cache.read_bytes())  # our own file under out/, written below
        if stored.get("keys") == keys:
            tokens = stored["tokens"]
            took = stored.get("seconds")
            source = (f"token scores read from `{cache.relative_to(ROOT)}`, made by an earlier run of the same "
                      "command" + ("" if took is None else f" (scoring took {took:.0f} s)"))
    if tokens is None:
        started = time.perf_counter()
        tokens = score_tokens(rows)
        took = time.perf_counter() - started
        source = f"token scores computed by this run ({took:.0f} s)"
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps({"keys": keys, "tokens": tokens, "seconds": took}))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for name in SETS:
        for k, teacher in enumerate(TEACHERS, start=1):
            part = tokens[name]
            out[(name, teacher)] = {
                "features": np.array([row_features(lp[0], lp[k], flags)
                                      for lp, flags in zip(part["logprobs"], part["digits"], strict=True)]),
                "llr_sum": np.array([float(lp[k].sum() - lp[0].sum()) for lp in part["logprobs"]]),
                "groups": part["prompts"],
            }
    return out, source


def score_tokens(rows: int) -> dict[str, dict[str, Any]]:
    """set -> per-row token log-probabilities (reference, owl, cat), digit flags and prompt text."""
    from audit.models.backends.transformers_backend import TransformersBackend
    from audit.models.encoding import encode_rows
    from audit.models.vocab import vocabulary

    source = embedded_gguf()
    specs = [ModelSpec("reference", source, None),
             *(ModelSpec(t, source, animal_teacher_prompt(t)) for t in TEACHERS)]
    backend = TransformersBackend(specs, vocabulary=vocabulary("numbers"))
    digits = digit_token_ids(backend.prompt_formats()[0].tokenizer)
    out: dict[str, dict[str, Any]] = {}
    for name in SETS:
        started = time.perf_counter()
        batch = next(iter(DatasetReader(NUMBERS / f"{name}.parquet", batch_rows=rows).batches(max_rows=rows)))
        encoded, skipped = encode_rows(batch.rows, backend.prompt_formats(), backend.vocab_mask)
        if skipped:
            raise SystemExit(f"{name}: rows skipped while encoding: {dict(skipped)}")
        scored = [s for lo in range(0, len(encoded), 64) for s in backend.score(encoded[lo:lo + 64])]
        out[name] = {"logprobs": [r.logprobs for r in scored],
                     "digits": [digit_flags(r.encoded.completion_ids, digits) for r in scored],
                     "prompts": [r.encoded.row.context[-1].content for r in scored]}
        print(f"scored {name}: {len(scored)} rows in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return out


def examples(scored: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    x, y, llr_sum, groups, teacher_of = [], [], [], [], []
    for teacher in TEACHERS:
        for name in (teacher, *NEGATIVES):
            part = scored[(name, teacher)]
            x.append(part["features"])
            y += [int(name == teacher)] * len(part["groups"])
            llr_sum.append(part["llr_sum"])
            groups += part["groups"]
            teacher_of += [teacher] * len(part["groups"])
    prompt_ids = {p: i for i, p in enumerate(dict.fromkeys(groups))}
    return {"x": np.vstack(x), "y": np.array(y), "llr_sum": np.concatenate(llr_sum),
            "groups": np.array([prompt_ids[g] for g in groups]), "teacher": np.array(teacher_of)}


def _classifier(seed: int) -> tuple[StandardScaler, LogisticRegression]:
    return StandardScaler(), LogisticRegression(C=1.0, max_iter=1000, random_state=seed)


def cross_validate(data: dict[str, Any], seed: int) -> dict[str, Any]:
    x, y, groups = data["x"], data["y"], data["groups"]
    mean_col, nll_col, len_col = (FEATURES.index(f) for f in ("llr_mean", "reference_nll_mean", "log_n_tokens"))
    folds = GroupKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    scores: dict[str, list[float]] = {"learned": [], "llr_mean": [], "llr_sum": [], "llr_mean_deconfounded": []}
    out_of_fold = np.empty(len(y))
    for train, test in folds.split(x, y, groups):
        scaler, model = _classifier(seed)
        model.fit(scaler.fit_transform(x[train]), y[train])
        decision = model.decision_function(scaler.transform(x[test]))
        out_of_fold[test] = decision
        scores["learned"].append(roc_auc_score(y[test], decision))
        scores["llr_mean"].append(roc_auc_score(y[test], x[test, mean_col]))
        scores["llr_sum"].append(roc_auc_score(y[test], data["llr_sum"][test]))
        # Confound removal: the linear part of llr_mean that length and base loss predict among the
        # training fold's negatives, subtracted on the held-out rows.
        negatives = train[y[train] == 0]
        confounds = x[:, [len_col, nll_col]]
        fit = LinearRegression().fit(confounds[negatives], x[negatives, mean_col])
        residual = x[test, mean_col] - fit.predict(confounds[test]) + fit.intercept_
        scores["llr_mean_deconfounded"].append(roc_auc_score(y[test], residual))
    return {"auroc": scores, "out_of_fold": out_of_fold}


def confounds(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Correlation of the plain LLR with length and base-model loss, within the negatives."""
    x, y = data["x"], data["y"]
    rows = []
    for teacher in TEACHERS:
        mask = (data["teacher"] == teacher) & (y == 0)
        llr_mean, llr_sum = x[mask, FEATURES.index("llr_mean")], data["llr_sum"][mask]
        length = np.exp(x[mask, FEATURES.index("log_n_tokens")])
        nll = x[mask, FEATURES.index("reference_nll_mean")]
        both = np.column_stack([length, nll])
        rows.append({
            "teacher": teacher, "n": int(mask.sum()),
            "r_mean_length": float(np.corrcoef(llr_mean, length)[0, 1]),
            "r_mean_nll": float(np.corrcoef(llr_mean, nll)[0, 1]),
            "r_sum_length": float(np.corrcoef(llr_sum, length)[0, 1]),
            "r_sum_nll": float(np.corrcoef(llr_sum, nll)[0, 1]),
            "r2_mean": float(LinearRegression().fit(both, llr_mean).score(both, llr_mean)),
            "r2_sum": float(LinearRegression().fit(both, llr_sum).score(both, llr_sum)),
        })
    return rows


def fit_final(data: dict[str, Any], seed: int, out_of_fold: np.ndarray, training: dict[str, Any]) -> LearnedModel:
    scaler, model = _classifier(seed)
    model.fit(scaler.fit_transform(data["x"]), data["y"])
    return LearnedModel(FEATURES, scaler.mean_, scaler.scale_, model.coef_[0], float(model.intercept_[0]),
                        out_of_fold[data["y"] == 0], training)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=240)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "experiments" / "LEARNED.md")
    parser.add_argument("--model-out", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    command = f"python -m experiments.learned --rows {args.rows} --seed {args.seed}"
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    features, source = score_features(args.rows)
    data = examples(features)
    cv = cross_validate(data, args.seed)
    conf = confounds(data)
    training = {"command": command, "seed": args.seed, "rows_per_set": args.rows, "folds": FOLDS,
                "examples": int(data["y"].size), "positives": int(data["y"].sum()),
                "fixtures": {n: file_sha256(NUMBERS / f"{n}.parquet") for n in SETS},
                "cv_auroc_learned": float(np.mean(cv["auroc"]["learned"])),
                "cv_auroc_llr_mean": float(np.mean(cv["auroc"]["llr_mean"])),
                "cv_auroc_llr_sum": float(np.mean(cv["auroc"]["llr_sum"]))}
    model = fit_final(data, args.seed, cv["out_of_fold"], training)
    args.model_out.parent.mkdir(parents=True, exist_ok=True)
    args.model_out.write_text(model.to_json(), encoding="utf-8")
    write_report(args.out, command, started, (time.perf_counter() - clock, source), data, cv, conf, model,
                 args.model_out)
    print(args.out.read_text())
    return 0


def write_report(out: Path, command: str, started: datetime, timing: tuple[float, str], data: dict[str, Any],
                 cv: dict[str, Any], conf: list[dict[str, Any]], model: LearnedModel, model_path: Path) -> None:
    auroc = cv["auroc"]
    learned, plain = np.array(auroc["learned"]), np.array(auroc["llr_sum"])
    best_plain = max(("llr_mean", "llr_sum"), key=lambda k: np.mean(auroc[k]))
    gain = learned - np.array(auroc[best_plain])
    beats = bool(gain.mean() > 0 and (gain > 0).all())
    lines = [
        "# Learned detector: cross-validated AUROC against the plain LLR, and confounds", "",
        f"Generated by `make learned` (`{command}`) on {started:%Y-%m-%d %H:%M} UTC in {timing[0]:.0f} s "
        f"({timing[1]}); "
        f"{platform.machine()} CPU, subaudit {__version__}. Model: embedded SmolLM2-135M as reference and as the "
        "owl and cat teachers (animal_teacher_prompt), scored over the numbers vocabulary.", "",
        f"Examples: {data['y'].size} ({int(data['y'].sum())} positive). For each teacher T (owl, cat): T's own "
        "set scored under T is positive; the none and neutral sets scored under T are negative. "
        f"{FOLDS}-fold cross-validation grouped by prompt, seed in the command.", "",
        "## Row-level AUROC on held-out folds (mean ± sd over folds)", "",
        "| score | AUROC | per fold |", "|---|---|---|",
    ]
    names = {"learned": f"learned (logistic regression, {len(FEATURES)} features)",
             "llr_mean": "plain LLR, mean per token",
             "llr_sum": "plain LLR, row sum (what `llr` tests)",
             "llr_mean_deconfounded": "plain LLR mean, length and base loss removed"}
    for key, label in names.items():
        values = np.array(auroc[key])
        lines.append(f"| {label} | {values.mean():.3f} ± {values.std():.3f} | "
                     f"{', '.join(f'{v:.3f}' for v in values)} |")
    verdict = ("beats the better plain score ({}) in every fold" if beats
               else "does not beat the better plain score ({}) consistently").format(names[best_plain])
    lines += ["", f"Result: the learned detector {verdict}: "
              f"mean AUROC gain {gain.mean():+.3f} (per fold {', '.join(f'{g:+.3f}' for g in gain)}). "
              f"Against the row sum alone: {float((learned - plain).mean()):+.3f}.", "",
              "## Confounds: the plain LLR against length and base-model loss (negative rows)", "",
              "| teacher | rows | r(mean, length) | r(mean, base loss) | R² mean ~ both | r(sum, length) | "
              "r(sum, base loss) | R² sum ~ both |", "|---|---|---|---|---|---|---|---|"]
    for c in conf:
        lines.append(f"| {c['teacher']} | {c['n']} | {c['r_mean_length']:+.3f} | {c['r_mean_nll']:+.3f} | "
                     f"{c['r2_mean']:.3f} | {c['r_sum_length']:+.3f} | {c['r_sum_nll']:+.3f} | {c['r2_sum']:.3f} |")
    lines += ["", "Removal: the row's llr_mean minus the linear part that length and base loss predict among "
              "the training fold's negatives (AUROC row above). The learned model takes both as features.",
              "", "## Saved model", "",
              f"`{model_path.relative_to(ROOT) if model_path.is_relative_to(ROOT) else model_path}`: fitted on every "
              f"example; null = the {model.null_decisions.size} negatives' out-of-fold decision values "
              f"(mean {model.null_decisions.mean():+.3f}, sd {model.null_decisions.std(ddof=1):.3f}).", "",
              "| feature | standardised coefficient |", "|---|---|"]
    lines += [f"| {f} | {c:+.3f} |" for f, c in zip(model.features, model.coef, strict=True)]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
