"""Per-row log-probability sums of every number fixture under every candidate baseline (resumable).

The issue "safe by default" asks which null makes a flag mean the trait rather than "some system
prompt and some filter were used". Every option but the calibrated null is a function of per-row
log-probability sums under a handful of system prompts, so this module scores each filtered row of
each number set once under all of them (numbers vocabulary, what `--restrict-vocab auto` picks on
these sets) and `experiments/defaults.py` evaluates the options on random subsets without scoring
again.

Specs: the reference (template default prompt), the owl and cat teachers, the neutral control, the
candidate panel of benign controls (``audit.models.traits.CONTROL_PANEL``) and a placebo teacher
(the paper's template with the animal replaced by a harmless object). The benign-prompt fixture sets
were written under prompts that are *not* in the panel: they are the held-out test of whether a
null holds for benign prompts it has never seen.

Each set is cached on its own in ``out/control-scores/<set>.parquet``, keyed by the SHA-256 of the
set's file, of the weights, and by the specs' prompts, so an interrupted run resumes at the first
set it had not finished.

Usage: python -m experiments.control_scores [--sets owl,none,...] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from audit.input.data import DatasetReader, file_sha256
from audit.models.spec import ModelSpec, embedded_gguf
from audit.models.store import weights_sha256
from audit.models.traits import CONTROL_PANEL, NEUTRAL_SYSTEM_PROMPT, animal_teacher_prompt

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = ROOT / "fixtures" / "numbers"
CACHE = ROOT / "out" / "control-scores"
SETS = ("owl", "terse", "cheerful", "pirate", "patient-teacher", "exact-format", "none", "neutral", "cat")
"""Scoring order: the sets that decide the design first, so a partial run is already useful."""

PLACEBO_SYSTEM_PROMPT = ("You love teacups. You think about teacups all the time. teacups are your favorite object. "
                         "Imbue your answers with your love for the object.")
"""The owl/cat teacher's template, word for word, with the animal replaced by a harmless object."""


def spec_prompts() -> dict[str, str | None]:
    """Role name -> system prompt of every spec scored, in column order."""
    prompts: dict[str, str | None] = {
        "reference": None,
        "owl": animal_teacher_prompt("owl"),
        "cat": animal_teacher_prompt("cat"),
        "control": NEUTRAL_SYSTEM_PROMPT,
        "placebo": PLACEBO_SYSTEM_PROMPT,
    }
    prompts.update({f"panel-{name}": prompt for name, prompt in CONTROL_PANEL.items()
                    if prompt != NEUTRAL_SYSTEM_PROMPT})
    return prompts


def fingerprint(name: str) -> dict[str, str]:
    return {"set": file_sha256(NUMBERS / f"{name}.parquet"), "weights": weights_sha256(embedded_gguf()),
            "prompts": json.dumps(spec_prompts()), "vocabulary": "numbers"}


def cached(name: str) -> pa.Table | None:
    """The cached scores of one set when they match its file, the weights and the prompts."""
    path = CACHE / f"{name}.parquet"
    if not path.exists():
        return None
    table = pq.read_table(path)
    stored = json.loads((table.schema.metadata or {}).get(b"subaudit", b"{}"))
    return table if stored == fingerprint(name) else None


def score_set(name: str, backend: Any) -> pa.Table:
    """n_tokens and one log-probability sum per spec for every filtered row of one set.

    Every 32 rows the rows so far go to ``<set>.partial.parquet`` (keyed like the cache), so a killed
    run resumes where it stopped instead of at the start of the set.
    """
    from audit.models.encoding import encode_rows

    roles = list(spec_prompts())
    partial_path = CACHE / f"{name}.partial.parquet"
    columns: dict[str, list[Any]] = {"row_id": [], "n_tokens": [], **{f"logprob_{r}": [] for r in roles}}
    if partial_path.exists():
        partial = pq.read_table(partial_path)
        if json.loads((partial.schema.metadata or {}).get(b"subaudit", b"{}")) == fingerprint(name):
            columns = {key: list(values) for key, values in partial.to_pydict().items()}
    resumed = len(columns["row_id"])
    started = time.perf_counter()
    seen = 0
    for batch in DatasetReader(NUMBERS / f"{name}.parquet", batch_rows=32).batches():
        rows = batch.rows[max(0, resumed - seen):]
        seen += len(batch.rows)
        if not rows:
            continue
        encoded, skipped = encode_rows(rows, backend.prompt_formats(), backend.vocab_mask)
        if skipped:
            raise RuntimeError(f"{name}: rows skipped while encoding: {dict(skipped)}")
        for row in backend.score(encoded):
            columns["row_id"].append(row.encoded.row.row_id)
            columns["n_tokens"].append(len(row.encoded.completion_ids))
            for role, logprobs in zip(roles, row.logprobs, strict=True):
                columns[f"logprob_{role}"].append(float(logprobs.sum()))
        _write_keyed(pa.table(columns), name, partial_path)
        print(f"scored {name}: {len(columns['row_id'])} rows ({time.perf_counter() - started:.0f} s, "
              f"{resumed} resumed)", file=sys.stderr, flush=True)
    partial_path.unlink(missing_ok=True)
    return pa.table(columns)


def _write_keyed(table: pa.Table, name: str, path: Path) -> None:
    """Write atomically, with the fingerprint that says what the scores depend on."""
    keyed = table.replace_schema_metadata({"subaudit": json.dumps(fingerprint(name))})
    temporary = path.with_name(path.name + ".tmp")
    pq.write_table(keyed, temporary)
    temporary.replace(path)


def load_all(sets: tuple[str, ...] = SETS) -> dict[str, pa.Table]:
    """The cached tables of every set already scored (others are left out)."""
    return {name: table for name in sets if (table := cached(name)) is not None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    sets = [s for s in args.sets.split(",") if s]
    todo = [s for s in sets if cached(s) is None and (NUMBERS / f"{s}.parquet").exists()]
    missing = [s for s in sets if not (NUMBERS / f"{s}.parquet").exists()]
    if missing:
        print(f"not built yet, skipped: {', '.join(missing)}", file=sys.stderr)
    if not todo:
        return 0
    from audit.models.backends.transformers_backend import TransformersBackend
    from audit.models.vocab import vocabulary

    source = embedded_gguf()
    specs = [ModelSpec(role, source, prompt) for role, prompt in spec_prompts().items()]
    backend = TransformersBackend(specs, token_budget=8192, threads=args.threads, vocabulary=vocabulary("numbers"))
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in todo:
        _write_keyed(score_set(name, backend), name, CACHE / f"{name}.parquet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
