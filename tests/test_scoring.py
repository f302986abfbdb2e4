"""The transformers backend's numbers equal a straightforward full-softmax computation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from audit.core.rows import AuditRow, Message
from audit.models.backends.transformers_backend import (
    TransformersBackend,
    completion_logprobs,
    length_batches,
    shared_prefix_length,
)
from audit.models.encoding import encode_rows
from audit.models.spec import ModelSpec, resolve_source


def naive_logprobs(model: Any, prompt_ids: list[int], completion_ids: list[int]) -> np.ndarray:
    """One row at a time, full log-softmax over every position: the by-hand computation."""
    ids = torch.tensor([prompt_ids + completion_ids])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
    start = len(prompt_ids) - 1
    return np.array([logprobs[start + j, t].item() for j, t in enumerate(completion_ids)])


def _rows(number_rows: list[dict[str, Any]]) -> list[AuditRow]:
    return [AuditRow(r["id"], (Message("user", r["prompt"]),), r["completion"]) for r in number_rows]


def test_length_batches_respect_the_token_budget() -> None:
    lengths = [5, 40, 12, 33, 7, 100, 64]
    batches = length_batches(lengths, token_budget=80)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert longest * len(batch) <= 80 or len(batch) == 1


@pytest.mark.parametrize("budget", [64, 300, 100_000])
def test_batched_logprobs_equal_naive_on_tiny_model(tiny_model: Path, number_rows: list[dict[str, Any]],
                                                    budget: int) -> None:
    specs = [ModelSpec("reference", resolve_source(str(tiny_model))),
             ModelSpec("teacher", resolve_source(str(tiny_model)), "You love owls.")]
    backend = TransformersBackend(specs, token_budget=budget)
    encoded, skipped = encode_rows(_rows(number_rows), backend.prompt_formats())
    assert not skipped
    scored = backend.score(encoded)
    model = backend._for(specs[0]).model
    for row in scored:
        for k in range(2):
            expected = naive_logprobs(model, list(row.encoded.prompt_ids[k]), list(row.encoded.completion_ids))
            assert row.logprobs[k].shape == expected.shape
            np.testing.assert_allclose(row.logprobs[k], expected, atol=1e-5, rtol=0)
    # The two prompts must actually give different numbers, or the test above proves little.
    assert any(not np.allclose(r.logprobs[0], r.logprobs[1]) for r in scored)


def test_output_order_matches_input_order(tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    sequences = [([1, 5, 9, 200], [7, 8, 9, 10, 11, 12]), ([1, 5], [42]), ([1, 2, 3, 4, 5, 6, 7], [3, 3])]
    results = completion_logprobs(model, sequences, token_budget=8)
    for (prompt, completion), result in zip(sequences, results, strict=True):
        np.testing.assert_allclose(result, naive_logprobs(model, prompt, completion), atol=1e-5, rtol=0)


def test_shared_prefix_leaves_each_prompts_last_token_out() -> None:
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 9], [1, 2, 3, 4, 5]]) == 3
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2  # identical prompts: the last token stays
    assert shared_prefix_length([[7], [7, 8]]) == 0
    assert shared_prefix_length([[1, 2], [3, 4]]) == 0


def test_prefix_reuse_and_batch_size_do_not_change_scores(tiny_model: Path, number_rows: list[dict[str, Any]]) -> None:
    """Scores with the shared-prefix cache equal scores without it, at any batch size (issue 7: 1e-4)."""
    prompt = "You love owls. You think about owls all the time."
    specs = [ModelSpec("reference", resolve_source(str(tiny_model))),
             ModelSpec("teacher", resolve_source(str(tiny_model)), prompt)]
    results = []
    for budget, reuse in ((100_000, False), (100_000, True), (200, True), (64, True)):
        backend = TransformersBackend(specs, token_budget=budget, reuse_prefix=reuse)
        encoded, _ = encode_rows(_rows(number_rows), backend.prompt_formats())
        results.append(backend.score(encoded))
    shared = shared_prefix_length([row.encoded.prompt_ids[1] for row in results[0]])
    assert shared > 10, "the teacher prompts share their template and system prompt"
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            for k in range(2):
                np.testing.assert_allclose(a.logprobs[k], b.logprobs[k], atol=1e-4, rtol=0)


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("3", 3), (" 2 ", 2), ("0", None), ("-1", None),
                                                 ("two", None), ("", None), (None, None)])
def test_threads_from_environment_reads_a_positive_omp_num_threads(
        monkeypatch: pytest.MonkeyPatch, value: str | None, expected: int | None) -> None:
    from audit.models.backends.transformers_backend import threads_from_environment

    if value is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert threads_from_environment() == expected


def test_the_backend_obeys_omp_num_threads_unless_given_threads(
        monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> None:
    """Two processes sharing two cores that each took both ran 2.4x slower than one alone; a runner that
    sets OMP_NUM_THREADS=1 per process must get it, and an explicit thread count still wins."""
    before = torch.get_num_threads()
    specs = [ModelSpec("reference", resolve_source(str(tiny_model)))]
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        TransformersBackend(specs).close()
        assert torch.get_num_threads() == 1
        TransformersBackend(specs, cpu_threads=2).close()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
