"""Scoring backends: token log-probabilities of completions under each model spec.

Backends are imported lazily by name so that importing the CLI never imports torch or vLLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from audit.core.errors import UsageError

if TYPE_CHECKING:
    from audit.models.backends.base import ScoringBackend
    from audit.models.spec import ModelSpec
    from audit.models.vocab import Vocabulary

BACKENDS = ("transformers", "vllm")


def check_available(name: str) -> None:
    """Raise the one-line usage error ``create_backend`` would, without loading anything."""
    if name == "vllm":
        from audit.models.backends.vllm_backend import INSTALL_HINT, vllm_available

        if not vllm_available():
            raise UsageError(INSTALL_HINT)


def create_backend(
    name: str,
    specs: Sequence[ModelSpec],
    *,
    token_budget: int,
    trust_remote_code: bool,
    vocabulary: Vocabulary | None = None,
    cpu_threads: int | None = None,
) -> ScoringBackend:
    """Instantiate the named backend for ``specs`` (loading models now).

    ``cpu_threads`` is how many of this machine's CPUs the backend may use (a Ray actor's share);
    None means all of them, as for a process alone on the machine.
    """
    if name == "transformers":
        from audit.models.backends.transformers_backend import TransformersBackend

        return TransformersBackend(
            specs, token_budget=token_budget, trust_remote_code=trust_remote_code, vocabulary=vocabulary,
            threads=cpu_threads,
        )
    if name == "vllm":
        from audit.models.backends.vllm_backend import INSTALL_HINT, vllm_available

        if not vllm_available():
            raise UsageError(INSTALL_HINT)
        from audit.models.backends.vllm_backend import VllmBackend

        return VllmBackend(
            specs, token_budget=token_budget, trust_remote_code=trust_remote_code, vocabulary=vocabulary,
            cpu_threads=cpu_threads,
        )
    raise UsageError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")
