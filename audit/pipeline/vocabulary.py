"""Which vocabulary a scan scores over, decided from the data before any model loads.

Why here and not in the CLI: every way a scan starts (scan, probe, calibrate, the Ray engine, a
resumed scan, a shard) must reach the same decision on the same data, so it is made from the first
rows of the input file (:data:`audit.models.vocab.AUTO_ROWS`) by one function. It reads the
reference's tokenizer (not its weights): a completion fits a format when its tokens do.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from audit.input.data import DatasetReader
from audit.models.backends import backend_info
from audit.models.vocab import AUTO, AUTO_ROWS, FULL, choose_vocabulary
from audit.pipeline.config import ScanConfig
from audit.pipeline.resolution import Resolution
from audit.report.schema import VocabularyInfo

FORMAT_FALLBACK = ("the data fit the {name} format, but the {backend} backend cannot score given a format (its prompt "
                 "logprobs are normalised over the full vocabulary); scored over the full vocabulary, where any "
                 "system prompt makes format-following text likelier, so the theoretical null does not hold there "
                 "(--null auto measures one; or use --backend transformers)")


def first_completions(paths: list[Path], config: ScanConfig) -> list[str]:
    """The completions of the first rows of ``paths``, read in order (what ``auto`` decides on)."""
    texts: list[str] = []
    for path in paths:
        left = AUTO_ROWS - len(texts)
        if left <= 0:
            break
        reader = DatasetReader(path, config.columns, config.input_format, min(config.batch_rows, AUTO_ROWS))
        for batch in reader.batches(max_rows=left):
            texts += [row.completion for row in batch.rows]
    return texts


def reference_tokenizer(config: ScanConfig) -> Any:
    """The reference's tokenizer (the completion ids every spec shares): what fits a format is decided on it."""
    from audit.models.spec import resolve_source
    from audit.models.store import load_tokenizer

    return load_tokenizer(resolve_source(config.reference), config.trust_remote_code)


def resolve_vocabulary(config: ScanConfig, read_from: list[Path] | None = None) -> ScanConfig:
    """``config`` with its vocabulary decided and explained (its :class:`Resolution` begun).

    Idempotent: a config already resolved is returned as it is. ``read_from`` are the files to decide
    on, in order (the Ray engine's parquet files, so it reads the rows a local scan of them would);
    by default the input itself.
    """
    if config.resolved is not None:
        return config
    requested = config.restrict_vocab or FULL
    choice = choose_vocabulary(requested, first_completions(read_from or [config.input_path], config),
                               reference_tokenizer(config))
    used, reason, warnings = choice.used, choice.reason, []
    if used is not None and not backend_info(config.backend).restricted_vocabulary and requested == AUTO:
        warnings.append(FORMAT_FALLBACK.format(name=used, backend=config.backend))
        used, reason = None, f"{reason}; but the {config.backend} backend cannot, so the full vocabulary"
    info = VocabularyInfo(requested=requested, used=used, fitting_format=choice.fitting_format,
                          rows_checked=choice.rows_checked, reason=reason, rows_outside=choice.rows_outside,
                          outside_examples=list(choice.outside_examples))
    return dataclasses.replace(config, resolved=Resolution(info, warnings=tuple(warnings)))


__all__ = ["AUTO", "FULL", "resolve_vocabulary"]
