"""Slow tier: the embedded SmolLM2-135M itself, on committed fixture data it generated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audit.input.data import DatasetReader
from audit.models.backends.transformers_backend import TransformersBackend
from audit.models.encoding import encode_rows
from audit.models.spec import ModelSpec, embedded_gguf
from audit.models.traits import animal_teacher_prompt
from audit.pipeline.config import ScanConfig
from audit.pipeline.local import run_scan
from tests.conftest import FIXTURES, OWL_PROMPT_FILE
from tests.test_scoring import naive_logprobs

pytestmark = pytest.mark.slow
SMOKE = FIXTURES / "smoke"


def test_logprobs_equal_one_row_full_softmax_on_smollm2() -> None:
    owl = animal_teacher_prompt("owl")
    specs = [ModelSpec("reference", embedded_gguf()), ModelSpec("teacher", embedded_gguf(), owl)]
    backend = TransformersBackend(specs, token_budget=2048)
    rows = next(iter(DatasetReader(SMOKE / "owl.parquet", batch_rows=12).batches())).rows
    encoded, skipped = encode_rows(rows, backend.prompt_formats())
    assert len(encoded) == 12 and not skipped
    model = backend._for(specs[0]).model
    worst = 0.0
    for row in backend.score(encoded):
        for k in range(2):
            expected = naive_logprobs(model, list(row.encoded.prompt_ids[k]), list(row.encoded.completion_ids))
            worst = max(worst, float(np.abs(row.logprobs[k] - expected).max()))
    assert worst < 1e-4, f"max |batched - naive| = {worst:.2e}"


def _scan(name: str) -> tuple[float, float, str]:
    """Mean per-token LLR vs reference, vs the neutral control, and the verdict, for one smoke set."""
    # Every baseline: the test reads the neutral control's statistic on both sets (on demand, a clean set stops
    # at the reference; tests/test_on_demand.py checks that the two modes conclude alike).
    report = run_scan(ScanConfig(input_path=SMOKE / f"{name}.parquet",
                                 teacher_system_prompt=OWL_PROMPT_FILE.read_text().strip(), baselines="all"))
    llr, control = report.results
    assert report.input.rows_scored == 96
    assert llr.statistic is not None and control.statistic is not None
    print(name, llr.summary, "|", control.summary, "|", report.verdict.value)
    return llr.statistic, control.statistic, report.verdict.value


def test_teacher_generated_data_has_higher_llr_than_reference_generated() -> None:
    owl_llr, owl_control, owl_verdict = _scan("owl")
    ref_llr, _, ref_verdict = _scan("reference")
    assert owl_llr > ref_llr
    # The theory's signs: E[LLR] = KL(T||R) > 0 on teacher data, -KL(R||T) < 0 on reference data.
    assert owl_llr > 0 > ref_llr
    # On teacher data E[log T - log N] = KL(T||N) > 0 for the neutral control N too.
    assert owl_control > 0
    assert (owl_verdict, ref_verdict) == ("flagged", "clean")


def test_gguf_conversion_is_cached(smol_folder: Path) -> None:
    from audit.models.store import converted_folder

    marker = smol_folder / "subaudit-converted.json"
    before = marker.stat().st_mtime_ns
    assert converted_folder(embedded_gguf()) == smol_folder
    assert marker.stat().st_mtime_ns == before
