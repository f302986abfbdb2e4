"""A learned detector: a logistic regression over each row's token-level LLR profile.

The plain ``llr`` detector uses one number per row, the summed teacher-minus-reference
log-likelihood ratio. A row's tokens may say more than their sum (a feature here too): how
spread the per-token ratios are, which share of tokens favour the teacher, whether the evidence
sits on digits or on separators, how hard the row is for the base model, and how long it is.
This detector turns
those into features and weighs them with a model trained on labelled fixture rows
(``experiments/learned.py``: teacher-written rows against reference- and neutral-written rows, each
scored under the teacher that did or did not write it). Whether that beats the plain LLR is
measured there by cross-validation and written to ``experiments/LEARNED.md``, either way.

The trained model is a JSON file (feature names, standardisation, coefficients, and the decision
values of the training's negative rows as this detector's null); scoring is a dot product, so a
scan needs neither scikit-learn nor pickle. The dataset test is a one-sided Welch test of the
mean decision value against that null: "these rows look more teacher-written than the known
negatives did". It inherits the training's setting (SmolLM2 number sequences scored over the
numbers vocabulary); elsewhere its p-values are not calibrated, and the report says so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audit.core.results import DetectorResult
from audit.core.rows import ScoredRow
from audit.core.stats import one_sided_welch_test
from audit.core.verdict import verdict_from_p
from detectors.base import Detector, DetectorSettings

MODEL_FORMAT = "subaudit-learned-detector"
MODEL_VERSION = "1.0.0"
DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "learned-llr.json"

FEATURES = (
    "llr_sum", "llr_mean", "llr_std", "llr_q10", "llr_q50", "llr_q90", "llr_positive_share",
    "llr_digit_mean", "llr_separator_mean", "reference_nll_mean", "log_n_tokens",
)
"""Per-row features, in model order. Digit/separator means fall back to the row mean when a row
has no token of that kind, so every feature is finite."""


def row_features(reference: np.ndarray, teacher: np.ndarray, is_digit: np.ndarray) -> np.ndarray:
    """The feature vector of one row from its per-token log-probabilities (FEATURES order)."""
    llr = teacher - reference
    mean = float(llr.mean())
    q10, q50, q90 = np.quantile(llr, [0.1, 0.5, 0.9])
    digits, separators = llr[is_digit], llr[~is_digit]
    return np.array([
        float(llr.sum()), mean, float(llr.std()), q10, q50, q90, float((llr > 0).mean()),
        float(digits.mean()) if digits.size else mean,
        float(separators.mean()) if separators.size else mean,
        float(-reference.mean()), float(np.log(llr.size)),
    ])


def digit_flags(completion_ids: Sequence[int], digit_tokens: frozenset[int]) -> np.ndarray:
    return np.fromiter((t in digit_tokens for t in completion_ids), dtype=bool, count=len(completion_ids))


def digit_token_ids(tokenizer: object) -> frozenset[int]:
    """Ids of tokens whose text is only digits (after the tokenizer's space marker)."""
    vocab: dict[str, int] = tokenizer.get_vocab()  # type: ignore[attr-defined]
    return frozenset(i for token, i in vocab.items() if token.lstrip("Ġ▁ ").isdigit())


@dataclass(frozen=True)
class LearnedModel:
    """A trained logistic regression in plain numbers (see experiments/learned.py)."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    null_decisions: np.ndarray
    training: dict[str, object]

    def decision(self, features: np.ndarray) -> np.ndarray:
        """Log-odds that each row (one per line of ``features``) is teacher-written."""
        return ((features - self.mean) / self.scale) @ self.coef + self.intercept

    def to_json(self) -> str:
        return json.dumps({
            "format": MODEL_FORMAT, "version": MODEL_VERSION, "features": list(self.features),
            "mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(),
            "intercept": self.intercept, "null_decisions": [round(float(x), 6) for x in self.null_decisions],
            "training": self.training,
        }, indent=1) + "\n"

    @classmethod
    def load(cls, path: Path) -> LearnedModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != MODEL_FORMAT or str(data.get("version", "")).split(".")[0] != "1":
            raise ValueError(f"{path} is not a {MODEL_FORMAT} 1.x file")
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{path} was trained on other features ({', '.join(data['features'])})")
        return cls(tuple(data["features"]), np.array(data["mean"]), np.array(data["scale"]),
                   np.array(data["coef"]), float(data["intercept"]), np.array(data["null_decisions"]),
                   dict(data.get("training", {})))


class LearnedDetector(Detector):
    """Per-row log-odds of teacher authorship from the token-level LLR profile; Welch test vs the null."""

    id = "learned-llr"
    optional = True
    needs_digit_tokens = True
    title = "Learned LLR-profile classifier"
    description = (
        "Logistic regression over each row's token-level teacher/reference LLR profile (sum, mean, spread, "
        "quantiles, positive share, digit vs separator tokens, base-model loss, length), trained on the "
        "number fixtures; one-sided Welch test of the mean log-odds against the training's negative rows."
    )
    row_columns: tuple[str, ...] = ("learned_log_odds",)
    model_path: Path = DEFAULT_MODEL

    def __init__(self, context: object) -> None:
        super().__init__(context)  # type: ignore[arg-type]
        self.model = LearnedModel.load(self.model_path)

    def score_rows(self, rows: Sequence[ScoredRow]) -> dict[str, np.ndarray]:
        base, teacher = self.index_of("reference"), self.index_of("teacher")
        digits = self.context.digit_tokens
        features = np.array([
            row_features(row.logprobs[base], row.logprobs[teacher], digit_flags(row.encoded.completion_ids, digits))
            for row in rows
        ]).reshape(len(rows), len(FEATURES))
        return {"learned_log_odds": self.model.decision(features)}

    def summarize(self, columns: dict[str, np.ndarray], settings: DetectorSettings) -> DetectorResult:
        decisions = columns["learned_log_odds"]
        null = self.model.null_decisions
        p_value = one_sided_welch_test(decisions, null).p_value
        shift = float(decisions.mean() - null.mean())
        pooled = float(np.sqrt((decisions.var(ddof=1) + null.var(ddof=1)) / 2)) if decisions.size > 1 else 0.0
        return DetectorResult(
            detector_id=self.id, title=self.title,
            verdict=verdict_from_p(p_value, settings.alpha, settings.suspicious_alpha),
            statistic_name="mean log-odds shift vs training negatives", statistic=shift,
            p_value=None if np.isnan(p_value) else float(p_value),
            effect_size=float(shift / pooled) if pooled > 0 else None,
            ci_low=None, ci_high=None, n_rows=int(decisions.size),
            summary=(f"mean learned log-odds {decisions.mean():+.3f} against {null.mean():+.3f} on the "
                     f"{null.size} training negatives (Welch one-sided p = {p_value:.3g}); calibrated only "
                     "for SmolLM2 number sequences scored over the numbers vocabulary"),
            details={"model": str(self.model_path.name), "features": list(self.model.features),
                     "training": self.model.training},
        )
