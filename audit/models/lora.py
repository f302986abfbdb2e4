"""Teachers given as a LoRA adapter on the reference's weights (a PEFT adapter folder).

A fine-tuned teacher is often shipped as a low-rank adapter rather than full weights. The
transformers backend merges it into a private copy of the base weights (W + scale · B·A for
every adapted linear layer, the same arithmetic PEFT's merge performs); the vLLM backend serves
the base once and applies the adapter per request (a LoRA request). Only plain LoRA on linear
layers is accepted: DoRA, extra trained modules, bias training and fan-in-fan-out layouts would
each change the arithmetic, so they are refused in one line rather than scored wrongly.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.core.errors import UsageError
from audit.core.hashing import file_sha256

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<side>[AB])\.weight$")


@dataclass(frozen=True)
class LoraAdapter:
    """A validated LoRA adapter folder."""

    path: Path
    rank: int
    alpha: float
    use_rslora: bool

    @property
    def scale(self) -> float:
        """PEFT's scaling: alpha / r, or alpha / sqrt(r) for rank-stabilised LoRA."""
        return self.alpha / (math.sqrt(self.rank) if self.use_rslora else self.rank)

    @property
    def display_name(self) -> str:
        return str(self.path)


def resolve_adapter(text: str) -> LoraAdapter:
    """Check ``--teacher-adapter``: a folder with a PEFT LoRA config and safetensors weights."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise UsageError(f"adapter not found: {text!r} is not a folder")
    config_path, weights = path / ADAPTER_CONFIG, path / ADAPTER_WEIGHTS
    if not config_path.is_file() or not weights.is_file():
        raise UsageError(f"adapter folder {path} needs {ADAPTER_CONFIG} and {ADAPTER_WEIGHTS} (a PEFT LoRA adapter)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {config_path}: {exc}") from exc
    if not isinstance(config, dict) or config.get("peft_type", "LORA") != "LORA":
        raise UsageError(f"adapter {path} is not a LoRA adapter (peft_type {config.get('peft_type')!r})")
    refused = [name for name, bad in (
        ("use_dora", bool(config.get("use_dora"))),
        ("modules_to_save", bool(config.get("modules_to_save"))),
        ("fan_in_fan_out", bool(config.get("fan_in_fan_out"))),
        ("bias", config.get("bias", "none") != "none"),
        ("rank_pattern", bool(config.get("rank_pattern"))),
        ("alpha_pattern", bool(config.get("alpha_pattern"))),
    ) if bad]
    if refused:
        raise UsageError(f"adapter {path} uses {', '.join(refused)}; only plain LoRA on linear layers is supported")
    try:
        rank = int(config["r"])
        alpha = float(config["lora_alpha"]) if config.get("lora_alpha") is not None else float(rank)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"adapter {path}: {ADAPTER_CONFIG} has no valid 'r'") from exc
    if rank < 1:
        raise UsageError(f"adapter {path}: rank r must be at least 1, got {rank}")
    return LoraAdapter(path.resolve(), rank, alpha, bool(config.get("use_rslora", False)))


def adapter_sha256(adapter: LoraAdapter) -> str:
    """SHA-256 of the adapter's config and weights: its identity in the provenance report."""
    digest = hashlib.sha256()
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        digest.update(name.encode())
        digest.update(bytes.fromhex(file_sha256(adapter.path / name)))
    return digest.hexdigest()


def lora_pairs(adapter: LoraAdapter) -> dict[str, tuple[Any, Any]]:
    """Module path -> (A [r, in], B [out, r]) tensors, from the adapter's safetensors."""
    from safetensors.torch import load_file

    tensors = load_file(str(adapter.path / ADAPTER_WEIGHTS))
    halves: dict[str, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        match = _KEY.match(key)
        if match is None:
            raise UsageError(f"adapter {adapter.path} holds {key!r}, which is not a LoRA A/B weight of a linear layer")
        halves.setdefault(match["module"], {})[match["side"]] = tensor
    pairs = {}
    for module, sides in halves.items():
        if set(sides) != {"A", "B"}:
            raise UsageError(f"adapter {adapter.path}: {module} has only lora_{''.join(sides)}")
        pairs[module] = (sides["A"], sides["B"])
    if not pairs:
        raise UsageError(f"adapter {adapter.path} holds no LoRA weights")
    return pairs


def _fitting_weight(model: Any, adapter: LoraAdapter, module_path: str, a: Any, b: Any) -> Any:
    """The weight of the layer ``module_path`` adapts; a usage error when the base has no such layer or shape."""
    try:
        layer = model.get_submodule(module_path)
    except AttributeError as exc:
        raise UsageError(f"adapter {adapter.path} adapts {module_path}, which the base model lacks") from exc
    weight = layer.weight
    if tuple(weight.shape) != (b.shape[0], a.shape[1]) or a.shape[0] != b.shape[1]:
        raise UsageError(f"adapter {adapter.path}: {module_path} shapes do not fit the base model")
    return weight


def check_fits(model: Any, adapter: LoraAdapter) -> None:
    """Every layer the adapter adapts exists in ``model`` with fitting shapes (a meta-device skeleton will do)."""
    for module_path, (a, b) in lora_pairs(adapter).items():
        _fitting_weight(model, adapter, module_path, a, b)


def merge_lora(model: Any, adapter: LoraAdapter) -> None:
    """Add scale · B·A to each adapted linear layer's weight, in place (fp32)."""
    import torch

    with torch.no_grad():
        for module_path, (a, b) in lora_pairs(adapter).items():
            weight = _fitting_weight(model, adapter, module_path, a, b)
            weight += adapter.scale * (b.to(weight.dtype) @ a.to(weight.dtype))
