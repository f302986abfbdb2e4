"""Loading models and tokenizers from disk, with a cache of GGUF conversions.

transformers dequantises a GGUF on every load (~20 s for SmolLM2 here), so the first load saves
the converted fp32 weights under the cache folder, keyed by the GGUF's SHA-256; later loads read
those. Everything runs offline: the hub is never contacted and remote code is never run unless
the user passes ``--trust-remote-code``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.core.errors import ToolError, UsageError
from audit.core.hashing import file_sha256
from audit.models.spec import WeightsSource

if TYPE_CHECKING:
    from audit.models.lora import LoraAdapter

_CONVERTED_MARKER = "subaudit-converted.json"


def force_offline() -> None:
    """Make the Hugging Face libraries refuse the network, and keep their progress bars off stderr.

    Called before models load; the environment variables must be set before transformers reads them.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def cache_root() -> Path:
    """Where converted weights live: ``$SUBAUDIT_CACHE_DIR``, else the XDG cache folder."""
    explicit = os.environ.get("SUBAUDIT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "subaudit"


@lru_cache(maxsize=32)
def weights_sha256(source: WeightsSource) -> str:
    """SHA-256 identifying the weights: the GGUF file, or every weight file of a folder in order."""
    if source.gguf_file:
        return file_sha256(source.file_path)
    digest = hashlib.sha256()
    files = sorted(
        p for p in source.path.iterdir()
        if p.suffix in (".safetensors", ".bin", ".pt", ".gguf") and p.is_file()
    )
    if not files:
        raise UsageError(f"model folder {source.path} holds no weight files")
    for path in files:
        digest.update(path.name.encode())
        digest.update(bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()


def _publish(staging: Path, target: Path) -> None:
    """Move a finished cache folder into place; a concurrent run that got there first also wins."""
    try:
        staging.rename(target)
    except OSError:
        if not (target / _CONVERTED_MARKER).is_file():  # a concurrent run did not win either
            raise


def converted_folder(source: WeightsSource) -> Path:
    """A Hugging Face folder for ``source``, converting a GGUF once and caching the result."""
    if source.gguf_file is None:
        return source.path
    digest = weights_sha256(source)
    target = cache_root() / "converted" / digest[:24]
    if (target / _CONVERTED_MARKER).is_file():
        return target
    force_offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        # transformers draws its own tqdm bar while de-quantizing ("Converting and de-quantizing GGUF
        # tensors..."), which no logging setting turns off; it would land in the middle of the scan's output
        # on a first run. tqdm writes to sys.stderr as it is when the bar starts, so this swallows only it.
        with contextlib.redirect_stderr(io.StringIO()):
            tokenizer = AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
            model = AutoModelForCausalLM.from_pretrained(
                source.path, gguf_file=source.gguf_file, dtype=torch.float32
            )
        # The GGUF quantizer refuses save_pretrained, and the saved weights are plain fp32.
        setattr(model, "hf_quantizer", None)  # noqa: B010 (nn.Module typing rejects None here)
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / _CONVERTED_MARKER).write_text(
            json.dumps({"gguf": str(source.file_path), "sha256": digest}, indent=2)
        )
        _publish(staging, target)
    except Exception as exc:
        raise ToolError(f"cannot convert GGUF {source.file_path}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def merged_folder(source: WeightsSource, adapter: LoraAdapter, trust_remote_code: bool = False) -> Path:
    """A Hugging Face folder of ``source`` with ``adapter`` merged in, built once and cached.

    For engines that must load weights from disk (vLLM): the merge is the transformers backend's
    own (audit.models.lora.merge_lora), so both backends score the same weights.
    """
    from audit.models.lora import adapter_sha256, merge_lora

    digest = hashlib.sha256(f"{weights_sha256(source)}:{adapter_sha256(adapter)}".encode()).hexdigest()
    target = cache_root() / "merged" / digest[:24]
    if (target / _CONVERTED_MARKER).is_file():
        return target
    model = load_causal_lm(source, trust_remote_code)
    merge_lora(model, adapter)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".merging-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        load_tokenizer(source, trust_remote_code).save_pretrained(staging)
        (staging / _CONVERTED_MARKER).write_text(json.dumps(
            {"base": str(source.file_path), "adapter": str(adapter.path), "sha256": digest}, indent=2))
        _publish(staging, target)
    except OSError as exc:
        raise ToolError(f"cannot write the merged model for {adapter.path}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """SHA-256 of what decides tokenization: the vocabulary and the special tokens.

    Two models can be compared token by token only when this matches.
    """
    vocab = sorted(tokenizer.get_vocab().items())
    special = sorted((str(k), str(v)) for k, v in tokenizer.special_tokens_map.items())
    payload = json.dumps({"vocab": vocab, "special": special}, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def require_shared_tokenizer(fingerprints: list[str], display_names: list[str]) -> None:
    """The likelihood ratio compares models token by token: their tokenizers must be one."""
    if len(set(fingerprints)) > 1:
        raise UsageError(
            f"teacher and reference tokenizers differ ({', '.join(display_names)}); the likelihood-ratio test "
            "needs models that share a tokenizer and base"
        )


def refuse_remote_code(folder: Path, display_name: str, trust_remote_code: bool) -> None:
    """A folder whose config maps classes to its own Python files (``auto_map``) would run that code.

    transformers refuses too, but with a multi-line message, and only once loading has begun; this
    says what to do in one line, before anything runs. ``--trust-remote-code`` is the only way past.
    """
    if trust_remote_code:
        return
    for name in ("config.json", "tokenizer_config.json"):
        path = folder / name
        if not path.is_file():
            continue
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{display_name}: cannot read {name}: {_first_line(exc)}") from exc
        if isinstance(config, dict) and config.get("auto_map"):
            raise UsageError(
                f"model {display_name} ships its own code ('auto_map' in {name}); subaudit runs it only with "
                "--trust-remote-code"
            )


def load_tokenizer(source: WeightsSource, trust_remote_code: bool = False) -> Any:
    """Load the tokenizer of ``source`` from disk only."""
    force_offline()
    from transformers import AutoTokenizer

    folder = converted_folder(source)
    refuse_remote_code(folder, source.display_name, trust_remote_code)
    try:
        return AutoTokenizer.from_pretrained(
            folder, local_files_only=True, trust_remote_code=trust_remote_code
        )
    except Exception as exc:
        raise UsageError(f"cannot load a tokenizer from {source.display_name}: {_first_line(exc)}") from exc


def load_causal_lm(source: WeightsSource, trust_remote_code: bool = False) -> Any:
    """Load the model of ``source`` in fp32 (bf16 matmuls are very slow on AVX2 CPUs), eval mode."""
    force_offline()
    import torch
    from transformers import AutoModelForCausalLM

    folder = converted_folder(source)
    refuse_remote_code(folder, source.display_name, trust_remote_code)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            folder, dtype=torch.float32, local_files_only=True, trust_remote_code=trust_remote_code
        )
    except Exception as exc:
        raise ToolError(f"cannot load model {source.display_name}: {_first_line(exc)}") from exc
    model.eval()
    return model


def skeleton_causal_lm(source: WeightsSource, trust_remote_code: bool = False) -> Any:
    """The model of ``source`` built from its config on the meta device: its modules and shapes, no weights.

    For checks that must not cost a model load (does an adapter fit this base?).
    """
    force_offline()
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = converted_folder(source)
    refuse_remote_code(folder, source.display_name, trust_remote_code)
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=trust_remote_code)
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise ToolError(f"cannot read model {source.display_name}: {_first_line(exc)}") from exc


def context_length(model: Any) -> int:
    """The longest sequence the model accepts, from its config (tokenizer limits are unreliable)."""
    return config_context_length(model.config)


def config_context_length(config: Any) -> int:
    """The longest sequence a model config allows (for engines that load weights themselves)."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@dataclass
class LoadedModel:
    """A model in memory with the identities that go into the provenance report."""

    source: WeightsSource
    model: Any
    tokenizer: Any
    weights_sha256: str
    tokenizer_sha256: str
    max_length: int
