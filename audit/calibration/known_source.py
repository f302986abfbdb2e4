"""Known-source data for calibration: the reference's own completions to the audited data's prompts.

Why: a calibrated null must be measured on data made the way the audited data was, by a source
known not to be the teacher. The default known source is the reference itself, answering the
audited dataset's own prompts (so prompt mix, template and length range match), sampled at
temperature 1 and then put through the same acceptance filter the audited data went through. A
filter that is skipped here would leave rows in the null that the audited data could never hold,
and the null would sit at the wrong place (fixtures/README.md, finding 1).

Which filter: ``auto`` applies the paper's numbers-only filter when (nearly) every audited
completion passes it, since such data was evidently filtered that way; else its lenient form (a
blank line between numbers and a trailing separator pass) when nearly every completion passes
that; and no filter otherwise; ``numbers``, ``numbers-lenient`` and ``none`` force it. Constrained
decoding (digit and separator tokens only) is a separate, explicit choice, for data that was made
that way (the committed fixtures were). A constrained sample ends at its first blank line unless
the audited completions hold blank lines themselves (``stop_at_blank_line`` None decides so): the
null's rows must be as long as the data's could be, since the tests compare row sums.

Prompts are taken in file order, each sampled once; only when every prompt has been used and too
few completions passed is a second round drawn (new noise), so null rows stay as independent as
the data allows. The set is written as parquet (``messages`` + ``id``) and kept beside the
calibration so a reviewer can read exactly what the null was measured on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from audit.core.columns import ColumnOverrides
from audit.core.errors import NothingAuditableError, UsageError
from audit.core.hashing import file_sha256
from audit.core.rows import AuditRow
from audit.filters.number_filter import DEFAULT_BANNED_NUMBERS, check_numbers
from audit.input.data import DatasetReader
from audit.report.schema import KnownSourceInfo

FilterMode = Literal["auto", "numbers", "numbers-lenient", "none"]
AppliedFilter = Literal["numbers", "numbers-lenient", "none"]
AUTO_FILTER_PASS_SHARE = 0.99
"""Share of audited completions that must pass the numbers filter for ``auto`` to apply it."""


@dataclass(frozen=True)
class KnownSourcePlan:
    """How to make the known-source set."""

    data: Path
    reference: str
    reference_system_prompt: str | None = None
    columns: ColumnOverrides = field(default_factory=ColumnOverrides)
    input_format: str | None = None
    rows: int = 400
    """Accepted completions wanted."""
    max_samples: int | None = None
    """Completions drawn at most (default 8 x rows); fewer accepted rows than wanted is then an error."""
    max_prompts: int | None = None
    """Audited rows whose prompts are used at most (default: as many as samples may need)."""
    filter: FilterMode = "auto"
    banned_numbers: tuple[int, ...] = DEFAULT_BANNED_NUMBERS
    constrained: bool = False
    stop_at_blank_line: bool | None = None
    """Constrained sampling only: end at the first blank line; None: unless an audited completion holds one."""
    temperature: float = 1.0
    max_new_tokens: int | None = None
    """Default: the longest audited completion read, in reference tokens, plus 8 (none truncated sooner)."""
    seed: int = 0
    batch_size: int = 32
    trust_remote_code: bool = False


def _audited_rows(plan: KnownSourcePlan, limit: int) -> list[AuditRow]:
    reader = DatasetReader(plan.data, plan.columns, plan.input_format)
    rows: list[AuditRow] = []
    for batch in reader.batches(max_rows=limit):
        rows += batch.rows
    if not rows:
        raise NothingAuditableError(f"{plan.data.name}: no readable prompts to generate known-source data from")
    return rows


def _decide_filter(plan: KnownSourcePlan, rows: list[AuditRow]) -> tuple[AppliedFilter, float]:
    """The filter to apply, and the share of audited completions that pass the strict numbers filter."""
    share = sum(check_numbers(r.completion, plan.banned_numbers).passed for r in rows) / len(rows)
    if plan.filter != "auto":
        return plan.filter, share
    if share >= AUTO_FILTER_PASS_SHARE:
        return "numbers", share
    lenient = sum(check_numbers(r.completion, plan.banned_numbers, lenient=True).passed for r in rows) / len(rows)
    return ("numbers-lenient" if lenient >= AUTO_FILTER_PASS_SHARE else "none"), share


def generate_known_source(plan: KnownSourcePlan, out: Path,
                          on_progress: Callable[[int, int], None] | None = None) -> KnownSourceInfo:
    """Sample the reference's completions to the audited prompts, filter them alike, write parquet.

    Returns how the rows were made, as the calibration file and the report record it.
    """
    if plan.rows < 2:
        raise UsageError("--known-rows must be at least 2")
    max_samples = plan.max_samples if plan.max_samples is not None else 8 * plan.rows
    if max_samples < plan.rows:
        raise UsageError("--max-samples must be at least --known-rows")
    rows = _audited_rows(plan, plan.max_prompts or max_samples)
    filter_applied, share = _decide_filter(plan, rows)

    from audit.generate.numbers import Sampler, batch_seed

    stop = plan.stop_at_blank_line
    if stop is None:
        stop = not any("\n\n" in r.completion for r in rows)
    sampler = Sampler(plan.reference, plan.constrained, plan.temperature, max_new_tokens=1,
                      trust_remote_code=plan.trust_remote_code, stop_at_blank_line=stop)
    longest = max(len(sampler.tokenizer(r.completion, add_special_tokens=False)["input_ids"]) for r in rows)
    sampler.max_new_tokens = plan.max_new_tokens or longest + 8
    records: list[dict[str, object]] = []
    rejected: Counter[str] = Counter()
    samples = 0
    while len(records) < plan.rows and samples < max_samples:
        round_index, start = divmod(samples, len(rows))
        chosen = rows[start: start + min(plan.batch_size, max_samples - samples, len(rows) - start)]
        texts = [sampler.render(r.context, plan.reference_system_prompt) for r in chosen]
        outputs = sampler.sample(texts, batch_seed(plan.seed, samples))
        samples += len(chosen)
        for row, (completion, finished) in zip(chosen, outputs, strict=True):
            if filter_applied != "none":
                decision = check_numbers(completion, plan.banned_numbers, lenient=filter_applied == "numbers-lenient")
                if not decision.passed:
                    rejected[decision.reason or "rejected"] += 1
                    continue
            if len(records) < plan.rows:
                messages = [{"role": m.role, "content": m.content} for m in row.context]
                records.append({"id": f"known-{round_index}-{row.row_id}", "source_row_id": row.row_id,
                                "messages": [*messages, {"role": "assistant", "content": completion}],
                                "finished": finished})
        if on_progress is not None:
            on_progress(samples, len(records))
    if len(records) < plan.rows:
        raise NothingAuditableError(
            f"only {len(records)} of {samples} reference completions passed the {filter_applied} filter; "
            f"{plan.rows} were wanted (raise --max-samples, lower --known-rows, or try --constrained)")
    _write(out, records)
    return KnownSourceInfo(
        origin="generated", prompts_from=str(plan.data), prompts_from_sha256=file_sha256(plan.data),
        generator=plan.reference, generator_system_prompt=plan.reference_system_prompt, samples=samples,
        accepted=len(records), filter=filter_applied, audited_filter_pass_share=round(share, 6),
        rejected=dict(rejected), constrained=plan.constrained, stop_at_blank_line=sampler.stop_at_blank_line,
        temperature=plan.temperature,
        max_new_tokens=sampler.max_new_tokens, seed=plan.seed)


def _write(out: Path, records: list[dict[str, object]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from audit.core.atomic import atomic_path

    with atomic_path(out) as tmp:
        pq.write_table(pa.Table.from_pylist(records), tmp)
