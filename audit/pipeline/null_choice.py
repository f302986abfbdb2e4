"""Which null the likelihood-ratio tests use (``--null auto|theoretical|measured|FILE``), decided before scoring.

Why a choice at all: the theoretical null, E[row LLR] <= 0, holds for data the reference wrote
freely. Filtered or constrained data are drawn from the writer *given the format*; scored over the
full vocabulary, any system prompt makes format-following text likelier, so clean data drift
positive (docs/method.md). ``auto`` therefore decides from what the vocabulary step found and from
the teacher:

- the teacher's weights differ from the reference's (an adapter, another checkpoint): the question
  is two-sample, "are these data closer to the teacher than the reference's own data made the same
  way?". A fine-tuned teacher moves probability off the format's tokens, so even the reference's own
  answers can score below zero under it and the one-sample null misses its data (issue 31); the
  reference answers a sample of the audited prompts, the answers go through the filter the data
  evidently went through, and that measured calibration is the null;
- the scan scores over a declared format the data fit (``--restrict-vocab auto`` found one): the
  renormalised distributions are conditioned on the format, so the theoretical null holds; no cost;
- the data fit a format but are scored over the full vocabulary (``--restrict-vocab full``, or the
  vLLM backend, which cannot renormalise): measured, as for a weight teacher;
- no declared format fits the completions (free text): the theoretical null, *assumed*: it holds
  for text the reference wrote freely, and nothing here can tell whether these were filtered. The
  report and the verdict line say so; ``--null measured`` measures one instead (free-text generation
  is the costly part, minutes per hundred rows on a CPU). On the text fixtures (code) the assumed
  null held: no control or benign-style set was flagged (experiments/RESULTS.md, "Text tasks").

A measured null is cached under a key of everything it depends on (the data's SHA-256, the models'
weights, adapters and prompts, the vocabulary and the generation settings), so a CI gate pays for
it once per source, and a change to any of them makes a new one rather than reusing a stale one.
The reference's answers themselves are cached under a narrower key (data, reference, generation
settings), so a second teacher on the same file only scores them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from audit.core.errors import UsageError
from audit.core.hashing import file_sha256
from audit.models.store import cache_root
from audit.pipeline.config import NULL_MEASURED, NULL_THEORETICAL, ScanConfig, model_specs, teacher_has_own_weights
from audit.report.schema import NullInfo
from audit.version import __version__

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

ASSUMED_NULL = ("the theoretical null (E[row LLR] <= 0) is assumed, not measured: no declared format fits the "
                "completions, and it holds only if the reference could have written them freely (no filter); "
                "--null measured measures one")
"""Why a free-text scan's null is unvouched, in the report's null reason and the verdict line."""


def resolve_null(config: ScanConfig, maker: NullMaker | None = None, can_generate: bool = True) -> ScanConfig:
    """``config`` with its null decided: the resolution's ``null_file`` set when one is used, ``null`` saying why.

    Runs after the vocabulary is resolved (it decides on that). Idempotent. An automatic null that
    must be made is made by ``maker`` (audit.pipeline.automatic_null.make_automatic_null, passed by the
    command line before the engine loads its models; the engines pass none, so this module does not
    import the scan it would run). Where it cannot be made (no maker; ``can_generate`` False: the Ray
    engine, whose input may be a folder) it is refused in one line that says what to do instead.
    """
    resolution = config.resolution
    if resolution.null is not None:
        return config
    requested = config.null
    warnings = list(resolution.warnings)
    fitting, used_format = resolution.vocabulary.fitting_format, resolution.vocabulary.used
    if config.calibration_path is not None:
        info = NullInfo(requested=requested, used="file", path=str(config.calibration_path),
                        reason="a calibration file was given")
    elif requested == NULL_THEORETICAL:
        info = NullInfo(requested=requested, used="theoretical", reason="--null theoretical was given",
                        assumed=used_format is None)
        if fitting is not None and used_format is None:
            warnings.append(UNVOUCHED_NULL.format(name=fitting))
    elif teacher_has_own_weights(config):
        why = ("the teacher's weights differ from the reference's (an adapter or another checkpoint), so the data are "
               "tested against the reference's own answers made the same way (two-sample)")
        return _automatic(config, why, warnings, maker, can_generate)
    elif requested == NULL_MEASURED:
        return _automatic(config, "--null measured was given", warnings, maker, can_generate)
    elif used_format is not None:
        info = NullInfo(requested=requested, used="theoretical",
                        reason=f"scored over the {used_format} vocabulary the data fit, which conditions on the "
                               "format, so E[row LLR] <= 0 holds for data the reference wrote in it")
    elif fitting is None:
        info = NullInfo(requested=requested, used="theoretical", reason=ASSUMED_NULL, assumed=True)
    else:
        why = (f"the data fit the {fitting} format but are scored over the full vocabulary, where the theoretical "
               "null does not hold")
        return _automatic(config, why, warnings, maker, can_generate)
    return _with_null(config, info, config.calibration_path, warnings)


def _with_null(config: ScanConfig, info: NullInfo, null_file: Path | None, warnings: list[str]) -> ScanConfig:
    resolution = dataclasses.replace(config.resolution, null=info, null_file=null_file, warnings=tuple(warnings))
    return dataclasses.replace(config, resolved=resolution)


def _automatic(config: ScanConfig, why: str, warnings: list[str], maker: NullMaker | None,
               can_generate: bool) -> ScanConfig:
    """Reuse or make the cached calibration that serves as this scan's null."""
    folder = config.null_cache or default_cache_dir()
    key = null_key(config)
    path = folder / f"{key}.calibration.json"
    reused = path.exists()
    if not reused:
        _require_comparable_teacher(config)
        if not can_generate:
            raise UsageError(f"{why}; the Ray engine does not make that null: make one with `subaudit calibrate` "
                             "and pass --null FILE, or scan with --engine local (it makes and caches it)")
        if maker is None:
            raise UsageError(f"{why}, and no measured null for them is cached in {folder}: run `subaudit scan`, "
                             "which makes one, or pass --null FILE")
        maker(config, folder, key, path)
    from audit.calibration.file import load_calibration

    made_in = load_calibration(path)[0].seconds
    info = NullInfo(requested=config.null, used="automatic", path=str(path), key=key, reused=reused,
                    made_in_s=made_in,
                    reason=f"{why}; measured on the reference's own answers to the audited prompts, "
                           f"{'reused from the cache' if reused else 'made now and cached'}")
    return _with_null(config, info, path, warnings)


def _require_comparable_teacher(config: ScanConfig) -> None:
    """Refuse a teacher that cannot be scored (another tokenizer, an adapter that does not fit its base) before
    minutes of generating a null for it.

    Only tokenizers and a weightless skeleton are loaded; the scoring backend checks the same again when it loads
    the models.
    """
    from audit.models.lora import check_fits
    from audit.models.store import load_tokenizer, require_shared_tokenizer, skeleton_causal_lm, tokenizer_fingerprint

    specs = model_specs(config)
    sources = list(dict.fromkeys(spec.source for spec in specs))
    require_shared_tokenizer([tokenizer_fingerprint(load_tokenizer(s, config.trust_remote_code)) for s in sources],
                             [s.display_name for s in sources])
    for spec in specs:
        if spec.adapter is not None:
            check_fits(skeleton_causal_lm(spec.source, config.trust_remote_code), spec.adapter)


def null_key(config: ScanConfig) -> str:
    """SHA-256 of everything an automatic null depends on: the data, the models, the prompts, the settings."""
    from audit.models.lora import adapter_sha256
    from audit.models.store import weights_sha256

    models = [{"role": s.role, "weights": weights_sha256(s.source), "system_prompt": s.system_prompt,
               "adapter": None if s.adapter is None else adapter_sha256(s.adapter)} for s in model_specs(config)]
    content = {
        "data": file_sha256(config.input_path), "models": models, "vocabulary": config.resolution.scored_vocabulary,
        "probe": [list(t) for t in config.traits], "rows": config.null_rows, "seed": config.seed,
        "banned_numbers": list(config.banned_numbers), "fpr": AUTO_NULL_FPR, "tool": __version__,
        "columns": dataclasses.asdict(config.columns), "input_format": config.input_format,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
