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

The text-task fixtures (``fixtures/<task>/``, issue 17) are scored the same way with ``--task code``:
full vocabulary (what ``--restrict-vocab auto`` picks on text), no placebo, cached in
``out/text-scores/<task>/``.

Usage: python -m experiments.control_scores [--task numbers|code|chat] [--sets owl,none,...] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from audit.core.hashing import file_sha256
from audit.input.data import DatasetReader
from audit.models.spec import ModelSpec, embedded_gguf
from audit.models.store import weights_sha256
from audit.models.traits import CONTROL_PANEL, NEUTRAL_SYSTEM_PROMPT, animal_teacher_prompt

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = ROOT / "fixtures" / "numbers"
CACHE = ROOT / "out" / "control-scores"
SETS = ("owl", "terse", "cheerful", "pirate", "patient-teacher", "exact-format", "none", "neutral", "cat")
"""Scoring order: the sets that decide the design first, so a partial run is already useful."""

TEXT_SETS = ("owl", "none", "cat", "neutral", "terse", "patient-teacher")
"""Every text set is scored whole (7 specs of a ~150-token code row: about 2 s here on 2 cores), so that
the subsets at N = 200..400 are measured: a power target is judged only on measured subsets (issue 30).
Until 2026-12-07 only each set's first 160 rows were; such a cache resumes from the rows it holds."""


@dataclass(frozen=True)
class ScoreStore:
    """Where one task's sets are read from and their scores cached, and how they are scored."""

    data: Path
    cache: Path
    vocabulary: str | None
    """``numbers`` for the number sets; None (the full vocabulary) for text."""
    placebo: bool = True
    sets: tuple[str, ...] = SETS


NUMBER_STORE = ScoreStore(NUMBERS, CACHE, "numbers")


def store_for(task: str) -> ScoreStore:
    """The number sets' store, or a text task's (``fixtures/<task>``, full vocabulary, no placebo)."""
    if task == "numbers":
        return NUMBER_STORE
    return ScoreStore(ROOT / "fixtures" / task, ROOT / "out" / "text-scores" / task, None, placebo=False,
                      sets=TEXT_SETS)


PLACEBO_SYSTEM_PROMPT = ("You love teacups. You think about teacups all the time. teacups are your favorite object. "
                         "Imbue your answers with your love for the object.")
"""The owl/cat teacher's template, word for word, with the animal replaced by a harmless object."""


def spec_prompts(placebo: bool = True) -> dict[str, str | None]:
    """Role name -> system prompt of every spec scored, in column order."""
    prompts: dict[str, str | None] = {
        "reference": None,
        "owl": animal_teacher_prompt("owl"),
        "cat": animal_teacher_prompt("cat"),
        "control": NEUTRAL_SYSTEM_PROMPT,
        **({"placebo": PLACEBO_SYSTEM_PROMPT} if placebo else {}),
    }
    prompts.update({f"panel-{name}": prompt for name, prompt in CONTROL_PANEL.items()
                    if prompt != NEUTRAL_SYSTEM_PROMPT})
    return prompts


def fingerprint(name: str, store: ScoreStore = NUMBER_STORE) -> dict[str, str]:
    return {"set": file_sha256(store.data / f"{name}.parquet"), "weights": weights_sha256(embedded_gguf()),
            "prompts": json.dumps(spec_prompts(store.placebo)), "vocabulary": store.vocabulary or "full"}


def expected_rows(name: str, store: ScoreStore) -> int:
    """Rows a complete cache of this set holds: every row of the set."""
    return int(pq.ParquetFile(store.data / f"{name}.parquet").metadata.num_rows)


def cached(name: str, store: ScoreStore = NUMBER_STORE) -> pa.Table | None:
    """The cached scores of one set when they match its file, the weights and the prompts."""
    path = store.cache / f"{name}.parquet"
    if not path.exists():
        return None
    table = pq.read_table(path)
    stored = json.loads((table.schema.metadata or {}).get(b"subaudit", b"{}"))
    return table if stored == fingerprint(name, store) and table.num_rows == expected_rows(name, store) else None


def score_set(name: str, backend: Any, store: ScoreStore = NUMBER_STORE) -> pa.Table:
    """n_tokens and one log-probability sum per spec for every filtered row of one set.

    Every 32 rows the rows so far go to ``<set>.partial.parquet`` (keyed like the cache), so a killed
    run resumes where it stopped instead of at the start of the set.
    """
    from audit.models.encoding import encode_rows

    roles = list(spec_prompts(store.placebo))
    partial_path = store.cache / f"{name}.partial.parquet"
    columns: dict[str, list[Any]] = {"row_id": [], "n_tokens": [], **{f"logprob_{r}": [] for r in roles}}
    complete_path = store.cache / f"{name}.parquet"  # fewer rows when it dates from a first-160-rows run
    for candidate in (complete_path, partial_path):
        if not candidate.exists():
            continue
        stored = pq.read_table(candidate)
        key = json.loads((stored.schema.metadata or {}).get(b"subaudit", b"{}"))
        if key == fingerprint(name, store) and stored.num_rows > len(columns["row_id"]):
            columns = {k: list(values) for k, values in stored.to_pydict().items()}
    resumed = len(columns["row_id"])
    started = time.perf_counter()
    seen = 0
    for batch in DatasetReader(store.data / f"{name}.parquet", batch_rows=32).batches():
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
        _write_keyed(pa.table(columns), name, partial_path, store)
        print(f"scored {name}: {len(columns['row_id'])} rows ({time.perf_counter() - started:.0f} s, "
              f"{resumed} resumed)", file=sys.stderr, flush=True)
    partial_path.unlink(missing_ok=True)
    return pa.table(columns)


def _write_keyed(table: pa.Table, name: str, path: Path, store: ScoreStore = NUMBER_STORE) -> None:
    """Write atomically, with the fingerprint that says what the scores depend on."""
    keyed = table.replace_schema_metadata({"subaudit": json.dumps(fingerprint(name, store))})
    temporary = path.with_name(path.name + ".tmp")
    pq.write_table(keyed, temporary)
    temporary.replace(path)


def load_all(sets: tuple[str, ...] = SETS, store: ScoreStore = NUMBER_STORE) -> dict[str, pa.Table]:
    """The cached tables of every set already scored (others are left out)."""
    return {name: table for name in sets if (table := cached(name, store)) is not None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="numbers", help="numbers, or a text task with fixtures/<task>/ (code, chat)")
    parser.add_argument("--sets", default=None, help="comma-separated sets (default: all of the task's)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    store = store_for(args.task)
    sets = [s for s in (args.sets or ",".join(store.sets)).split(",") if s]
    todo = [s for s in sets if cached(s, store) is None and (store.data / f"{s}.parquet").exists()]
    missing = [s for s in sets if not (store.data / f"{s}.parquet").exists()]
    if missing:
        print(f"not built yet, skipped: {', '.join(missing)}", file=sys.stderr)
    if not todo:
        return 0
    from audit.models.backends.transformers_backend import TransformersBackend
    from audit.models.vocab import vocabulary

    source = embedded_gguf()
    specs = [ModelSpec(role, source, prompt) for role, prompt in spec_prompts(store.placebo).items()]
    backend = TransformersBackend(specs, token_budget=8192, cpu_threads=args.threads,
                                  vocabulary=vocabulary(store.vocabulary) if store.vocabulary else None)
    store.cache.mkdir(parents=True, exist_ok=True)
    for name in todo:
        _write_keyed(score_set(name, backend, store), name, store.cache / f"{name}.parquet", store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
