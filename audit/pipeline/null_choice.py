"""Which null the likelihood-ratio tests use (``--null auto|theoretical|FILE``), decided before scoring.

Why a choice at all: the theoretical null, E[row LLR] <= 0, holds for data the reference wrote
freely. Filtered or constrained data are drawn from the writer *given the format*; scored over the
full vocabulary, any system prompt makes format-following text likelier, so clean data drift
positive (docs/method.md). ``auto`` therefore decides from what the vocabulary step found:

- the scan scores over a declared format the data fit (``--restrict-vocab auto`` found one): the
  renormalised distributions are conditioned on the format, so the theoretical null holds; no cost;
- no declared format fits the completions: nothing says they were filtered, and the theoretical
  null holds for unfiltered samples; no cost (a user who knows of a filter passes a calibration);
- the data fit a format but are scored over the full vocabulary (``--restrict-vocab full``, or the
  vLLM backend, which cannot renormalise): the reference answers a sample of the audited prompts,
  its answers go through the filter the data evidently went through, and that calibration is the
  null. It is cached under a key of everything it depends on (the data's SHA-256, the models'
  weights, adapters and prompts, the vocabulary and the generation settings), so a CI gate pays for
  it once per source, and a change to any of them makes a new one rather than reusing a stale one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from audit import __version__
from audit.core.errors import UsageError
from audit.input.data import file_sha256
from audit.models.store import cache_root
from audit.pipeline.config import NULL_THEORETICAL, ScanConfig, model_specs
from audit.report.schema import NullInfo

AUTO_NULL_FPR = 0.01
"""Per-row threshold false-positive rate stored with an automatic null (as `calibrate`'s default)."""

UNVOUCHED_NULL = ("the data fit the {name} format but are scored over the full vocabulary against the theoretical "
                  "null, which does not hold for filtered or constrained data: a flag may mean 'a system prompt "
                  "favours this format', not the teacher's trait (use --null auto, --restrict-vocab auto or "
                  "--calibration)")


def default_cache_dir() -> Path:
    """Where automatic nulls are kept: ``nulls/`` in subaudit's cache (beside the converted weights)."""
    return cache_root() / "nulls"


NullMaker = Callable[[ScanConfig, Path, str, Path], None]
"""Makes an automatic null: (config, cache folder, key, calibration path) -> the file written at the path."""


def resolve_null(config: ScanConfig, maker: NullMaker | None = None, can_generate: bool = True) -> ScanConfig:
    """``config`` with its null decided: ``calibration_path`` set when one is used, and ``null_info`` saying why.

    Runs after the vocabulary is resolved (it decides on that). Idempotent. An automatic null that
    must be made is made by ``maker`` (audit.pipeline.automatic_null.make_automatic_null, passed by the
    command line before the engine loads its models; the engines pass none, so this module does not
    import the scan it would run). Where it cannot be made (no maker; ``can_generate`` False: the Ray
    engine, whose input may be a folder) it is refused in one line that says what to do instead.
    """
    if config.null_info is not None:
        return config
    assert config.vocabulary is not None, "resolve the vocabulary first"
    requested = config.null
    warnings = list(config.warnings)
    fitting, used_format = config.vocabulary.fitting_format, config.vocabulary.used
    if config.calibration_path is not None:
        info = NullInfo(requested=requested, used="file", path=str(config.calibration_path),
                        reason="a calibration file was given")
    elif requested == NULL_THEORETICAL:
        info = NullInfo(requested=requested, used="theoretical", reason="--null theoretical was given")
        if fitting is not None and used_format is None:
            warnings.append(UNVOUCHED_NULL.format(name=fitting))
    elif used_format is not None:
        info = NullInfo(requested=requested, used="theoretical",
                        reason=f"scored over the {used_format} vocabulary the data fit, which conditions on the "
                               "format, so E[row LLR] <= 0 holds for data the reference wrote in it")
    elif fitting is None:
        info = NullInfo(requested=requested, used="theoretical",
                        reason="no declared format fits the completions, so nothing says they were filtered; "
                               "E[row LLR] <= 0 holds for data the reference wrote freely")
    elif not can_generate:
        raise UsageError(f"the data fit the {fitting} format but are scored over the full vocabulary, so --null "
                         "auto would generate a null, which the Ray engine does not do: make one with `subaudit "
                         "calibrate` and pass --null FILE, or scan with --restrict-vocab auto")
    else:
        return _automatic(config, fitting, warnings, maker)
    return dataclasses.replace(config, null_info=info, warnings=tuple(warnings))


def _automatic(config: ScanConfig, fitting: str, warnings: list[str], maker: NullMaker | None) -> ScanConfig:
    """Reuse or make the cached calibration that serves as this scan's null."""
    folder = config.null_cache or default_cache_dir()
    key = null_key(config)
    path = folder / f"{key}.calibration.json"
    reused = path.exists()
    if not reused:
        if maker is None:
            raise UsageError(f"the data fit the {fitting} format but are scored over the full vocabulary, and no "
                             f"automatic null for them is cached in {folder}: run `subaudit scan`, which makes one, "
                             "or pass --null FILE")
        maker(config, folder, key, path)
    info = NullInfo(requested=config.null, used="automatic", path=str(path), key=key, reused=reused,
                    reason=f"the data fit the {fitting} format but are scored over the full vocabulary, where the "
                           "theoretical null does not hold; measured on the reference's own answers to the audited "
                           f"prompts, {'reused from the cache' if reused else 'made now and cached'}")
    return dataclasses.replace(config, calibration_path=path, null_info=info, warnings=tuple(warnings))


def null_key(config: ScanConfig) -> str:
    """SHA-256 of everything an automatic null depends on: the data, the models, the prompts, the settings."""
    from audit.models.lora import adapter_sha256
    from audit.models.store import weights_sha256

    models = [{"role": s.role, "weights": weights_sha256(s.source), "system_prompt": s.system_prompt,
               "adapter": None if s.adapter is None else adapter_sha256(s.adapter)} for s in model_specs(config)]
    content = {
        "data": file_sha256(config.input_path), "models": models, "vocabulary": config.restrict_vocab,
        "probe": [list(t) for t in config.traits], "rows": config.null_rows, "seed": config.seed,
        "banned_numbers": list(config.banned_numbers), "fpr": AUTO_NULL_FPR, "tool": __version__,
        "columns": dataclasses.asdict(config.columns), "input_format": config.input_format,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
