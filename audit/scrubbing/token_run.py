"""A token scrub: rank every scored token, replace the top share by the reference's choice, and rescan the rows.

Unlike a row drop, a rewritten row has new scores under every model (the tokens after a replacement sit in a
new context), so the rows changed are scanned again, as a scan of the cleaned file would score them, and the
held-back test after the scrub reads those new scores. The random control replaces as many tokens drawn at
random by the same rule; only its held-back rows are rescanned (its held-back test is all it reports).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from audit.core.errors import ToolError, UsageError
from audit.core.rows import AuditRow, EncodedRow
from audit.models.backends.base import NextTokenChooser
from audit.models.vocab import NUMBERS
from audit.pipeline.config import ScanConfig
from audit.report.schema import Report
from audit.scrubbing.report import TokenRewrite
from audit.scrubbing.scores import ScoredRows
from audit.scrubbing.tokens import Candidates, ReplaceMode, allowed_tokens, largest_tokens, random_tokens, shape

Rescan = Callable[[Path, str, Path], None]
"""Scan a parquet file (its id column named) with every baseline, writing its scores file to the last path."""

SUM_TOLERANCE = 1e-3
"""Nats a row's per-token LLR may differ from the scan's row sum (batching changes the last float bits)."""


@dataclasses.dataclass(frozen=True)
class Rewrite:
    """One rewrite of the scored rows: the tokens chosen and the text each changed row now holds."""

    chosen: list[np.ndarray]
    texts: dict[str, str]
    tokens_changed: int
    failing_filter: list[str]
    notes: dict[str, str]
    """What the cleaned file's scrub column says of each changed row."""


@dataclasses.dataclass(frozen=True)
class EncodedData:
    """The scan's scored rows, read and encoded again in the scores file's order."""

    rows: list[AuditRow]
    encoded: list[EncodedRow]


def read_scored_rows(config: ScanConfig, ids: Sequence[str], formats: Sequence[Any],
                     vocab_mask: np.ndarray | None) -> EncodedData:
    """The scored rows (by id) as the scan read them, encoded for every spec as the scan encoded them."""
    from audit.input.data import DatasetReader
    from audit.models.encoding import encode_rows_detailed

    wanted = set(ids)
    found: dict[str, AuditRow] = {}
    reader = DatasetReader(config.input_path, config.columns, config.input_format, config.batch_rows)
    for batch in reader.batches(max_rows=config.max_rows):
        for row in batch.rows:
            if row.row_id in wanted and row.row_id not in found:
                found[row.row_id] = row
    if len(found) != len(wanted):
        raise ToolError(f"the data changed during the scrub: {len(wanted) - len(found)} scored row(s) not found again")
    rows = [found[row_id] for row_id in ids]
    encoded, skipped = encode_rows_detailed(rows, formats, vocab_mask)
    if skipped:
        raise ToolError(f"the data changed during the scrub: {len(skipped)} scored row(s) no longer encode")
    return EncodedData(rows, encoded)


@dataclasses.dataclass(frozen=True)
class DataFilter:
    """The filter the data evidently passed: the number filter on number data, else the trait-keyword filter.

    A rewritten row that passed it before and fails it now is reported: a pipeline that filters again would
    drop it (the reference's choice can, say, add an eleventh number or write a banned one).
    """

    numbers: bool
    banned: tuple[int, ...]
    keywords: tuple[str, ...]

    @classmethod
    def of(cls, report: Report) -> DataFilter:
        used = report.vocabulary.used if report.vocabulary is not None else None
        return cls(used == NUMBERS.name, tuple(report.parameters.banned_numbers),
                   tuple(report.parameters.trait_keywords))

    @functools.cached_property
    def _keywords(self) -> re.Pattern[str] | None:
        from audit.filters.text_filters import keyword_pattern

        return keyword_pattern(self.keywords)

    def passes(self, text: str) -> bool:
        if self.numbers:
            from audit.filters.number_filter import check_numbers

            return check_numbers(text, self.banned, self.keywords).passed
        from audit.filters.text_filters import mentions_trait

        return not mentions_trait(text, self._keywords)


def rewrite(data: EncodedData, chosen: list[np.ndarray], replace: Callable[[list[np.ndarray]], list[tuple[int, ...]]],
            decode: Callable[[Sequence[int]], str], data_filter: DataFilter) -> Rewrite:
    """Replace the chosen tokens; the changed rows' new text, and those the data's filter now refuses."""
    new_ids = replace(chosen)
    texts: dict[str, str] = {}
    notes: dict[str, str] = {}
    changed_tokens = 0
    failing = []
    for row, encoded, ids in zip(data.rows, data.encoded, new_ids, strict=True):
        differ = sum(a != b for a, b in zip(encoded.completion_ids, ids, strict=True))
        if not differ:
            continue
        changed_tokens += differ
        texts[row.row_id] = decode(ids)
        notes[row.row_id] = f"tokens replaced ({differ} of {len(ids)})"
        if data_filter.passes(row.completion) and not data_filter.passes(texts[row.row_id]):
            failing.append(row.row_id)
    return Rewrite(chosen, texts, changed_tokens, failing, notes)


def token_rewrites(config: ScanConfig, report: Report, ids: list[str], row_llr: np.ndarray, binding_role: str,
                   fraction: float, mode: ReplaceMode, seed: int) -> tuple[Rewrite, Rewrite]:
    """Load the models, rank the tokens, and rewrite the rows twice: ranked, and at random (the control)."""
    from audit.models.backends import create_backend
    from audit.pipeline.config import model_specs
    from audit.pipeline.local import scan_vocabulary
    from audit.pipeline.score_cache import CachedBackend, ScoreCache
    from audit.pipeline.score_store import open_score_store
    from audit.scrubbing.replace import replace_tokens

    specs = model_specs(config)
    roles = [spec.role for spec in specs]
    teacher, binding, reference = roles.index("teacher"), roles.index(binding_role), roles.index("reference")
    backend = create_backend(config.backend, specs, token_budget=config.token_budget,
                             trust_remote_code=config.trust_remote_code, vocabulary=scan_vocabulary(config))
    try:
        if not hasattr(backend, "next_token_logits"):
            raise UsageError(f"--replace-tokens needs a backend that can write tokens; {config.backend} cannot "
                             "(use --backend transformers)")
        chooser = cast(NextTokenChooser, backend)
        formats = backend.prompt_formats()
        data = read_scored_rows(config, ids, formats, backend.vocab_mask)
        cache = ScoreCache(open_score_store(config.trust_remote_code), keep_in_memory=False)
        try:
            scored = CachedBackend(backend, [teacher, binding], cache).score(data.encoded)
        finally:
            cache.close()
        token_llr = [row.logprobs[0] - row.logprobs[1] for row in scored]
        drift = float(np.max(np.abs(np.array([llr.sum() for llr in token_llr]) - row_llr)))
        if drift > SUM_TOLERANCE:
            raise ToolError(f"per-token scores disagree with the scan's row sums by {drift:.2g} nats")
        tokenizer = formats[reference].tokenizer
        # Ids past the tokenizer's (an output layer padded to a round size) decode to nothing: never allowed.
        width = max(len(tokenizer), 0 if backend.vocab_mask is None else backend.vocab_mask.size)
        allowed = allowed_tokens(width, backend.vocab_mask, tokenizer.all_special_ids)
        candidates = Candidates(allowed, None if config.resolution.scored_vocabulary != NUMBERS.name else [
            shape(tokenizer.decode([token_id])) if allowed[token_id] else "" for token_id in range(width)])
        prompts = [row.prompt_ids[reference] for row in data.encoded]
        completions = [row.completion_ids for row in data.encoded]

        def replace(chosen: list[np.ndarray]) -> list[tuple[int, ...]]:
            return replace_tokens(chooser, reference, prompts, completions, chosen, candidates, mode, seed)

        def decode(token_ids: Sequence[int]) -> str:
            return str(tokenizer.decode(list(token_ids)))

        eligible = [np.array([candidates.replaceable(t) for t in row], dtype=bool) for row in completions]
        ranked = largest_tokens(token_llr, fraction, eligible)
        count = int(sum(mask.sum() for mask in ranked))
        data_filter = DataFilter.of(report)
        return (rewrite(data, ranked, replace, decode, data_filter),
                rewrite(data, random_tokens(eligible, count, seed), replace, decode, data_filter))
    finally:
        backend.close()


def summary(rewritten: Rewrite, unscorable: list[str]) -> TokenRewrite:
    """The report's record of one rewrite."""
    return TokenRewrite(tokens_chosen=int(sum(mask.sum() for mask in rewritten.chosen)),
                        tokens_changed=rewritten.tokens_changed, rows_changed=len(rewritten.texts),
                        rows_failing_filter=rewritten.failing_filter, rows_unscorable=unscorable)


RESCAN_ID = "subaudit_row_id"
"""The id column of a rescan's file: the scan's own row ids, whatever column (or row index) they came from."""


def with_texts(table: Any, columns: Any, ids: list[str], texts: dict[str, str]) -> Any:
    """``table`` (every input record, ``ids`` aligned) with the completions of the rows in ``texts`` rewritten."""
    import pyarrow as pa

    if columns.mode == "pair":
        values = table.column(columns.completion).to_pylist()
        name = columns.completion
        values = [texts.get(row_id, value) for row_id, value in zip(ids, values, strict=True)]
    else:
        name = columns.messages
        values = [rewritten_messages(value, texts[row_id]) if row_id in texts else value
                  for row_id, value in zip(ids, table.column(name).to_pylist(), strict=True)]
    index = table.column_names.index(name)
    return table.set_column(index, table.schema.field(index), pa.array(values, table.schema.field(index).type))


def rewritten_messages(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """A conversation with its final (assistant) turn's text replaced."""
    last = dict(messages[-1])
    last["value" if "value" in last and "content" not in last else "content"] = text
    return [*messages[:-1], last]


def rescored(rows: ScoredRows, texts: dict[str, str], write_rows: Callable[[list[str], Path], None],
             rescan: Rescan, folder: Path, name: str) -> tuple[ScoredRows, np.ndarray]:
    """The scored rows with the rewritten ones' scores from a rescan, and which rows are still scorable.

    Two unchanged rows ride along in the rescan: a scan refuses a file with fewer than two scorable rows, and
    a rewrite may change only one (their new scores equal their old ones but for the last float bits).
    """
    if not texts:
        return rows, np.ones(len(rows.ids), dtype=bool)
    riders = [row_id for row_id in rows.ids if row_id not in texts][:2]
    path, scores = folder / f"{name}.parquet", folder / f"{name}.scores.parquet"
    write_rows([*texts, *riders], path)
    rescan(path, RESCAN_ID, scores)
    fresh = ScoredRows.read(scores)
    where = {row_id: i for i, row_id in enumerate(rows.ids)}
    columns = {column: values.copy() for column, values in rows.columns.items()}
    for j, row_id in enumerate(fresh.ids):
        for column, values in columns.items():
            values[where[row_id]] = fresh.columns[column][j]
    missing = set(texts) - set(fresh.ids)
    return ScoredRows(rows.ids, columns), np.array([row_id not in missing for row_id in rows.ids], dtype=bool)
