"""The learned detector: its features, its model file, its training code and its place in a scan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from detectors.learned import (
    DEFAULT_MODEL,
    FEATURES,
    LearnedModel,
    digit_flags,
    digit_token_ids,
    row_features,
)
from experiments import learned as training
from tests.conftest import run_cli


def test_row_features_by_hand() -> None:
    reference = np.array([-1.0, -2.0, -0.5, -3.0])
    teacher = np.array([-0.5, -2.5, -0.5, -1.0])  # LLR: +0.5, -0.5, 0, +2
    is_digit = np.array([True, False, True, True])
    got = dict(zip(FEATURES, row_features(reference, teacher, is_digit), strict=True))
    llr = np.array([0.5, -0.5, 0.0, 2.0])
    assert got["llr_sum"] == pytest.approx(2.0)
    assert got["llr_mean"] == pytest.approx(0.5)
    assert got["llr_std"] == pytest.approx(llr.std())
    assert got["llr_q50"] == pytest.approx(0.25)
    assert got["llr_positive_share"] == pytest.approx(0.5)
    assert got["llr_digit_mean"] == pytest.approx((0.5 + 0.0 + 2.0) / 3)
    assert got["llr_separator_mean"] == pytest.approx(-0.5)
    assert got["reference_nll_mean"] == pytest.approx(1.625)
    assert got["log_n_tokens"] == pytest.approx(np.log(4))
    # A row without separators falls back to its mean there, so every feature stays finite.
    only_digits = row_features(reference, teacher, np.ones(4, dtype=bool))
    assert np.isfinite(only_digits).all() and only_digits[FEATURES.index("llr_separator_mean")] == pytest.approx(0.5)


def test_digit_tokens_of_the_real_tokenizer(smol_tokenizer: Any) -> None:
    digits = digit_token_ids(smol_tokenizer)
    ids = smol_tokenizer("123, 45", add_special_tokens=False)["input_ids"]
    flags = digit_flags(ids, digits)
    texts = smol_tokenizer.convert_ids_to_tokens(ids)
    assert flags.any() and not flags.all()
    for text, flag in zip(texts, flags, strict=True):
        assert flag == text.lstrip("Ġ").isdigit(), text


def _synthetic(n: int, seed: int) -> dict[str, Any]:
    """Examples whose positives carry a teacher shift in the LLR features, negatives none."""
    rng = np.random.default_rng(seed)
    y = np.array([1, 0, 0] * n)
    x = rng.normal(0, 1, (y.size, len(FEATURES)))
    x[:, FEATURES.index("llr_mean")] += 0.8 * y
    x[:, FEATURES.index("llr_positive_share")] += 0.8 * y
    groups = np.repeat(np.arange(n), 3)  # one prompt per triple, as the fixture sets share prompts
    return {"x": x, "y": y, "llr_sum": x[:, FEATURES.index("llr_mean")] * 30, "groups": groups,
            "teacher": np.array(["owl"] * y.size)}


def test_cross_validation_and_saved_model(tmp_path: Path) -> None:
    data = _synthetic(120, 0)
    cv = training.cross_validate(data, seed=0)
    assert len(cv["auroc"]["learned"]) == training.FOLDS
    # Two shifted features beat one, and both beat chance; a broken fit or split would not.
    assert np.mean(cv["auroc"]["learned"]) > np.mean(cv["auroc"]["llr_mean"]) > 0.6
    model = training.fit_final(data, 0, cv["out_of_fold"], {"seed": 0})
    assert model.null_decisions.size == int((data["y"] == 0).sum())
    path = tmp_path / "model.json"
    path.write_text(model.to_json())
    loaded = LearnedModel.load(path)
    np.testing.assert_allclose(loaded.decision(data["x"]), model.decision(data["x"]))
    # The saved decision equals scikit-learn's own on the same rows.
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(data["x"])
    fitted = LogisticRegression(C=1.0, max_iter=1000, random_state=0).fit(scaler.transform(data["x"]), data["y"])
    np.testing.assert_allclose(model.decision(data["x"]), fitted.decision_function(scaler.transform(data["x"])),
                               rtol=1e-9, atol=1e-9)


def test_model_file_is_refused_when_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"format": "something-else", "version": "1.0.0"}))
    with pytest.raises(ValueError, match="is not a subaudit-learned-detector"):
        LearnedModel.load(path)
    data = json.loads(DEFAULT_MODEL.read_text())
    data["features"] = data["features"][:-1]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="trained on other features"):
        LearnedModel.load(path)


def test_committed_model_records_its_training() -> None:
    model = LearnedModel.load(DEFAULT_MODEL)
    assert model.features == FEATURES
    for key in ("command", "seed", "cv_auroc_learned", "cv_auroc_llr_mean", "fixtures"):
        assert key in model.training
    assert model.null_decisions.size > 100


def test_scan_runs_the_learned_detector(tiny_model: Path, tiny_teacher: Path, write_jsonl: Any,
                                        number_rows: list[dict[str, Any]], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(number_rows)
    code, _, err = run_cli(["scan", str(data), "--reference", str(tiny_model), "--teacher", str(tiny_teacher),
                            "--null", "theoretical", "--no-teacher-traits", "--learned-detector", "--quiet",
                            "--report", str(tmp_path / "r.json"),
                            "--scores", str(tmp_path / "s.parquet")], capsys, monkeypatch)
    assert code in (0, 1), err
    report = json.loads((tmp_path / "r.json").read_text())
    result = next(r for r in report["results"] if r["detector_id"] == "learned-llr")
    assert result["n_rows"] == len(number_rows) and result["p_value"] is not None
    scores = pq.read_table(tmp_path / "s.parquet").to_pydict()
    assert len(scores["learned_log_odds"]) == len(number_rows)
    assert np.isfinite(scores["learned_log_odds"]).all()
    # The column is the model's decision on the row's features, recomputed here independently.
    model = LearnedModel.load(DEFAULT_MODEL)
    assert result["statistic"] == pytest.approx(
        float(np.mean(scores["learned_log_odds"]) - model.null_decisions.mean()), abs=1e-9)
