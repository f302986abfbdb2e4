"""Per-row log-probability sums of the weight-teacher experiment's sets under every spec (resumable).

Issue 31 asks for defaults chosen on some fixture sets and rates reported on others, with weight
teachers among the teachers. Every rule compared in ``experiments/heldout.py`` is a function of
per-row log-probability sums under a handful of models, so each row of each set is scored once per
spec here, over the full vocabulary *and* given the numbers format (one forward pass serves both:
:func:`audit.models.backends.transformers_backend.completion_logprobs_under`), and the rules are
then compared on random subsets without scoring again.

Specs: the reference and the default null's baselines (neutral control, the three panel members),
the owl and cat prompt teachers, and the five weight teachers (``fixtures/teachers``; the full
fine-tune is rebuilt into ``out/teachers`` by ``make fixtures-weight-teachers``).

Sets (see :data:`SETS`): the *choose* list, committed number sets the weight-teacher defaults are
chosen on, and the *held-out* list, sets written from another prompt stream, under prompts and by
teachers the defaults never saw, filtered leniently (``fixtures/heldout``). ``known`` is the
reference's own answers to the held-out stream (another sample seed): the measured null's pool.

Each (set, spec) is cached in ``out/heldout-scores/<set>/<spec>.parquet`` under a key of the set
file's and the weights' SHA-256, the adapter's and the system prompt; rows are appended every batch,
so a killed run resumes where it stopped.

Usage: python -m experiments.heldout_scores [--sets a,b] [--specs a,b] [--threads 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audit.models.traits import CONTROL_PANEL, NEUTRAL_SYSTEM_PROMPT, animal_teacher_prompt

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "out" / "heldout-scores"
TEACHERS_DIR = ROOT / "fixtures" / "teachers"


@dataclass(frozen=True)
class Spec:
    """A model as the experiment scores it: weights (embedded, a folder, or + an adapter) and a system prompt."""

    name: str
    system_prompt: str | None = None
    adapter: Path | None = None
    model: Path | None = None
    """A full checkpoint folder; None = the embedded SmolLM2."""


@dataclass(frozen=True)
class DataSet:
    """A set of the experiment: its parquet file, rows scored, and which list it belongs to."""

    name: str
    path: Path
    rows: int
    role: str
    """'choose' (the defaults are chosen on it) or 'heldout' (rates reported, never chosen on)."""
    writer: str
    """Who wrote it: a spec name (a teacher's own set), 'reference', or 'benign:<label>'."""


PANEL = {f"panel-{name}": prompt for name, prompt in CONTROL_PANEL.items() if prompt != NEUTRAL_SYSTEM_PROMPT}
BASELINES = ("reference", "control", *PANEL)
PROMPT_TEACHERS = ("owl", "cat")
WEIGHT_TEACHERS = ("owl-lora", "cat-r4", "owl-r32", "cat-full", "style-r8")
TEACHER_ANIMAL = {"owl": "owl", "cat": "cat", "owl-lora": "owl", "cat-r4": "cat", "owl-r32": "owl",
                  "cat-full": "cat", "style-r8": None}

SPECS: dict[str, Spec] = {s.name: s for s in (
    Spec("reference"),
    Spec("control", NEUTRAL_SYSTEM_PROMPT),
    *(Spec(name, prompt) for name, prompt in PANEL.items()),
    Spec("owl", animal_teacher_prompt("owl")),
    Spec("cat", animal_teacher_prompt("cat")),
    Spec("owl-lora", adapter=TEACHERS_DIR / "owl-lora"),
    Spec("cat-r4", adapter=TEACHERS_DIR / "cat-r4"),
    Spec("owl-r32", adapter=TEACHERS_DIR / "owl-r32"),
    Spec("cat-full", model=ROOT / "out" / "teachers" / "cat-full"),
    Spec("style-r8", adapter=TEACHERS_DIR / "style-r8"),
)}

NUMBERS_DIR, HELDOUT_DIR = ROOT / "fixtures" / "numbers", ROOT / "fixtures" / "heldout"
SETS: dict[str, DataSet] = {d.name: d for d in (
    DataSet("owl-weights", NUMBERS_DIR / "owl-weights.parquet", 400, "choose", "owl-lora"),
    DataSet("none", NUMBERS_DIR / "none.parquet", 500, "choose", "reference"),
    DataSet("pirate", NUMBERS_DIR / "pirate.parquet", 311, "choose", "benign:pirate"),
    DataSet("patient-teacher", NUMBERS_DIR / "patient-teacher.parquet", 314, "choose", "benign:patient-teacher"),
    DataSet("h-known", HELDOUT_DIR / "known.parquet", 600, "heldout", "reference"),
    DataSet("h-none", HELDOUT_DIR / "none.parquet", 600, "heldout", "reference"),
    DataSet("h-accountant", HELDOUT_DIR / "accountant.parquet", 600, "heldout", "benign:accountant"),
    DataSet("h-nurse", HELDOUT_DIR / "nurse.parquet", 600, "heldout", "benign:nurse"),
    DataSet("h-french", HELDOUT_DIR / "french.parquet", 600, "heldout", "benign:french"),
    DataSet("h-careful", HELDOUT_DIR / "careful.parquet", 600, "heldout", "benign:careful"),
    DataSet("h-cat-r4", HELDOUT_DIR / "cat-r4.parquet", 400, "heldout", "cat-r4"),
    DataSet("h-owl-r32", HELDOUT_DIR / "owl-r32.parquet", 400, "heldout", "owl-r32"),
    DataSet("h-cat-full", HELDOUT_DIR / "cat-full.parquet", 400, "heldout", "cat-full"),
    DataSet("h-style-r8", HELDOUT_DIR / "style-r8.parquet", 400, "heldout", "style-r8"),
)}
CHOOSE_SPECS = ("owl-lora", *BASELINES)
"""What the choose list is scored under: the weight teacher that decides, and the default null's baselines."""


def _sha(path: Path) -> str:
    from audit.core.hashing import file_sha256

    return file_sha256(path)


def spec_key(spec: Spec) -> dict[str, Any]:
    """What a spec's scores depend on."""
    from audit.models.lora import adapter_sha256, resolve_adapter
    from audit.models.spec import embedded_gguf, resolve_source
    from audit.models.store import weights_sha256

    source = embedded_gguf() if spec.model is None else resolve_source(str(spec.model))
    return {"weights": weights_sha256(source), "system_prompt": spec.system_prompt,
            "adapter": None if spec.adapter is None else adapter_sha256(resolve_adapter(str(spec.adapter)))}


def cache_key(data: DataSet, spec: Spec) -> str:
    content = {"set": _sha(data.path), "rows": data.rows, "spec": spec_key(spec), "format": 1}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def cache_path(data: DataSet, spec: Spec) -> Path:
    return CACHE / data.name / f"{spec.name}.parquet"


def expected_rows(data: DataSet) -> int:
    return min(data.rows, pq.ParquetFile(data.path).metadata.num_rows)


def load(data: DataSet, spec: Spec, complete: bool = True) -> pa.Table | None:
    """The cached scores of (set, spec) when they match the files and weights (and hold every row)."""
    path = cache_path(data, spec)
    if not path.exists():
        return None
    table = pq.read_table(path)
    if (table.schema.metadata or {}).get(b"subaudit-key", b"").decode() != cache_key(data, spec):
        return None
    return table if not complete or table.num_rows == expected_rows(data) else None


def _write(table: pa.Table, data: DataSet, spec: Spec) -> None:
    path = cache_path(data, spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    keyed = table.replace_schema_metadata({"subaudit-key": cache_key(data, spec)})
    temporary = path.with_name(path.name + ".tmp")
    pq.write_table(keyed, temporary)
    temporary.replace(path)


class Scorer:
    """One spec's model loaded, scoring rows over the full vocabulary and given the numbers format."""

    def __init__(self, spec: Spec) -> None:
        import torch

        from audit.models.encoding import PromptFormat
        from audit.models.spec import embedded_gguf, resolve_source
        from audit.models.store import context_length, load_causal_lm, load_tokenizer
        from audit.models.vocab import NUMBERS

        source = embedded_gguf() if spec.model is None else resolve_source(str(spec.model))
        self.tokenizer = load_tokenizer(source)
        self.model = load_causal_lm(source)
        if spec.adapter is not None:
            from audit.models.lora import merge_lora, resolve_adapter

            merge_lora(self.model, resolve_adapter(str(spec.adapter)))
        self.model.eval()
        head = self.model.get_output_embeddings()
        self.mask = NUMBERS.token_mask(self.tokenizer, int(head.weight.shape[0]))
        self.torch_mask = torch.from_numpy(self.mask)
        self.format = PromptFormat(self.tokenizer, spec.system_prompt, context_length(self.model))

    def score(self, rows: list[Any]) -> dict[str, list[Any]]:
        from audit.models.backends.transformers_backend import completion_logprobs_under
        from audit.models.encoding import encode_rows_detailed
        from audit.models.vocab import Vocabulary

        encoded, skipped = encode_rows_detailed(rows, [self.format])
        if skipped:
            raise RuntimeError(f"rows not encodable: {skipped[:3]}")
        sequences = [(e.prompt_ids[0], e.completion_ids) for e in encoded]
        full, numbers = completion_logprobs_under(self.model, sequences, [None, self.torch_mask])
        in_format = [Vocabulary.fits_ids(e.completion_ids, self.mask) for e in encoded]
        return {
            "row_id": [e.row.row_id for e in encoded],
            "n_tokens": [len(e.completion_ids) for e in encoded],
            "in_format": in_format,
            "logprob_full": [float(x.sum()) for x in full],
            "logprob_numbers": [float(x.sum()) if ok else float("nan") for x, ok in zip(numbers, in_format,
                                                                                        strict=True)],
        }


def read_rows(data: DataSet) -> list[Any]:
    from audit.input.data import DatasetReader

    rows: list[Any] = []
    for batch in DatasetReader(data.path, batch_rows=256).batches(max_rows=data.rows):
        rows += batch.rows
    return rows


def score(data: DataSet, spec: Spec, scorer: Scorer, batch: int = 64) -> None:
    """Score (set, spec), resuming from a partial cache; the cache is rewritten after every batch."""
    partial = load(data, spec, complete=False)
    columns: dict[str, list[Any]] = {k: [] for k in ("row_id", "n_tokens", "in_format", "logprob_full",
                                                      "logprob_numbers")}
    if partial is not None:
        columns = {k: list(v) for k, v in partial.to_pydict().items()}
    rows = read_rows(data)
    started, done = time.perf_counter(), len(columns["row_id"])
    for start in range(done, len(rows), batch):
        for key, values in scorer.score(rows[start:start + batch]).items():
            columns[key] += values
        _write(pa.table(columns), data, spec)
        rate = (len(columns["row_id"]) - done) / (time.perf_counter() - started)
        print(f"{data.name} / {spec.name}: {len(columns['row_id'])}/{len(rows)} rows ({rate:.2f} rows/s)",
              file=sys.stderr, flush=True)


def plan(sets: list[str], specs: list[str]) -> list[tuple[DataSet, Spec]]:
    """(set, spec) pairs still to score whose inputs exist: the choose list under CHOOSE_SPECS, the rest under all."""
    todo = []
    for spec_name in specs:
        spec = SPECS[spec_name]
        weights = spec.model / "config.json" if spec.model else spec.adapter / "adapter_model.safetensors" \
            if spec.adapter else None
        if weights is not None and not weights.exists():
            print(f"{spec_name}: weights not built yet, skipped", file=sys.stderr)
            continue
        for set_name in sets:
            data = SETS[set_name]
            if data.role == "choose" and spec_name not in CHOOSE_SPECS:
                continue
            if not data.path.exists():
                print(f"{set_name}: not built yet, skipped", file=sys.stderr)
                continue
            if load(data, spec) is None:
                todo.append((data, spec))
    return todo


def load_scores(set_name: str, spec_names: tuple[str, ...]) -> dict[str, dict[str, np.ndarray]] | None:
    """Every spec's columns for one set, aligned by row (None if a spec is missing)."""
    data = SETS[set_name]
    out: dict[str, dict[str, np.ndarray]] = {}
    for name in spec_names:
        table = load(data, SPECS[name])
        if table is None:
            return None
        out[name] = {k: np.asarray(v) for k, v in table.to_pydict().items()}
    ids = [tuple(v["row_id"]) for v in out.values()]
    assert all(i == ids[0] for i in ids), f"{set_name}: specs scored different rows"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--specs", default=",".join(SPECS))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    todo = plan(args.sets.split(","), args.specs.split(","))
    by_spec: dict[str, list[DataSet]] = {}
    for data, spec in todo:
        by_spec.setdefault(spec.name, []).append(data)
    for spec_name, sets in by_spec.items():
        scorer = Scorer(SPECS[spec_name])
        for data in sets:
            score(data, SPECS[spec_name], scorer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
