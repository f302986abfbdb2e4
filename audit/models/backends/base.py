"""The contract every scoring backend meets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from audit.core.rows import EncodedRow, ScoredRow
from audit.models.encoding import PromptFormat
from audit.models.spec import ModelSpec
from audit.report.schema import ModelInfo


class ScoringBackend(Protocol):
    """Computes log p(completion token | prefix) for every completion token under every spec."""

    name: str
    specs: Sequence[ModelSpec]
    vocab_mask: np.ndarray | None
    """Tokens each distribution is renormalised over (``--restrict-vocab``); None = full vocabulary."""

    def prompt_formats(self) -> list[PromptFormat]:
        """How each spec renders prompts (tokenizer, system prompt, context limit)."""
        ...

    def identities(self) -> list[ModelInfo]:
        """Provenance of each spec's model."""
        ...

    def score(self, rows: Sequence[EncodedRow]) -> list[ScoredRow]:
        """Score rows; output order equals input order."""
        ...

    def score_specs(self, rows: Sequence[EncodedRow], indices: Sequence[int]) -> list[ScoredRow]:
        """Score rows under the specs at ``indices`` only, their log-probabilities in that order.

        Why: a scan scores a baseline only when the verdict needs it (audit.pipeline.on_demand).
        """
        ...

    def close(self) -> None:
        """Release what outlives a Python object on its own (vLLM's engine processes)."""
        ...


class NextTokenChooser(Protocol):
    """A backend that can say what a spec would write next (the token scrub's replacements need it)."""

    def next_token_logits(self, spec_index: int, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """Logits of the token after each prefix (prompt and completion so far), one row per prefix."""
        ...


def model_info(spec: ModelSpec, weights_sha256: str, tokenizer_sha256: str) -> ModelInfo:
    """The provenance record of one spec (every backend and engine reports the same fields)."""
    from audit.models.lora import adapter_sha256

    return ModelInfo(
        role=spec.role,
        source=spec.source.display_name,
        source_kind=spec.source.kind,
        resolved_path=str(spec.source.file_path),
        weights_sha256=weights_sha256,
        tokenizer_sha256=tokenizer_sha256,
        system_prompt=spec.system_prompt,
        adapter=spec.adapter.display_name if spec.adapter else None,
        adapter_sha256=adapter_sha256(spec.adapter) if spec.adapter else None,
    )
