"""`scan --engine ray`: score on Ray Data actors, reduce on the driver to the report a local scan gives.

Why this shape: Ray Data reads the parquet files as blocks and streams them through a pool of
actors, each holding one scoring backend (models load once per actor, not per batch). Actors
return one record per input record, scored or not, in input order (``preserve_order``), so the
driver can apply the decisions that need the whole dataset — duplicate ids (first occurrence
kept), skip counts, the canonical row order — exactly as the local engine does, and build the
report with the same code (:func:`audit.pipeline.finish.build_report`). Per-row scores do not depend on
which actor or batch scored a row, so the report equals a local scan's up to float rounding.

Ray is an optional extra (``pip install 'subaudit[ray]'``); this module imports it lazily.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audit.core.errors import ToolError, UsageError
from audit.core.hashing import file_sha256
from audit.input.chat import MessageFormatError
from audit.input.data import ColumnMapping, DatasetReader, row_from_record
from audit.input.seen_ids import in_sample
from audit.models.backends import backend_info
from audit.models.backends.base import ScoringBackend
from audit.models.spec import ModelSpec
from audit.pipeline.config import ScanConfig, model_specs, validate
from audit.pipeline.finish import (
    ScannedInput,
    StageTimes,
    build_report,
    position_accumulator,
    prepare_calibration,
    scan_detector_set,
)
from audit.pipeline.null_choice import resolve_null
from audit.pipeline.row_loop import ProgressCallback, RowLoop
from audit.pipeline.score_cache import CachedBackend, ScoreCache
from audit.pipeline.score_store import open_score_store, score_cache_folder
from audit.pipeline.scores_file import ScoresWriter
from audit.pipeline.scoring_step import ScoredBatch, score_batch
from audit.pipeline.teacher_traits import with_teacher_traits
from audit.pipeline.top_rows import TopEntry, TopRowsTracker
from audit.pipeline.vocabulary import resolve_vocabulary
from audit.report.schema import ModelInfo, RayRun, Report, ScoreCacheInfo

STATUS_SCORED = "scored"
STATUS_SKIPPED = "skipped"
"""Parsed, then not scored (encoding: too long, token mismatch, outside the vocabulary...)."""
STATUS_UNPARSED = "unparsed"
"""The record is not a row (null prompt, bad messages...): never enters duplicate detection."""
STATUS_NOT_SAMPLED = "not_sampled"
POSITIONS_PREFIX = "positions:"
TOP_IDS = "top:token_ids"
TOP_LLR = "top:token_llr"
"""Each scored row's completion token ids and teacher-minus-reference LLRs, for the report's top rows."""
ACTOR_COLUMN = "actor"
CACHE_REUSED, CACHE_COMPUTED, CACHE_ERROR = "cache:reused", "cache:computed", "cache:write_error"
"""An actor's score-cache counts for one block, on the block's first record (0 and null on the others)."""
"""Which actor scored a record: the report says how the rows were spread (RayRun.rows_per_actor)."""
ACTOR_START_TIMEOUT_S = 1800
"""How long a scan waits for every scoring actor to start (a large model's engine can take minutes
to load) before it fails with a clear error instead of waiting forever for resources the cluster
does not have. Waiting for all of them also means the first actor up does not take every block."""

# Variables every actor needs, wherever it runs: no hub, no telemetry, and the converted-weights cache.
_WORKER_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "SUBAUDIT_CACHE_DIR",
               "XDG_CACHE_HOME", "SUBAUDIT_SCORE_CACHE", "SUBAUDIT_SCORE_CACHE_MAX_MB")


def parquet_files(path: Path) -> list[Path]:
    """The parquet files of ``path``: the file itself, or every ``*.parquet`` under a folder."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if not files:
            raise UsageError(f"folder {path} holds no .parquet files")
        return files
    if not path.is_file():
        raise UsageError(f"input file {path} does not exist")
    if path.suffix.lower() != ".parquet":
        raise UsageError(f"--engine ray reads parquet (a file or a folder of them); got {path.name}")
    return [path]


def parquet_rows(files: list[Path]) -> int:
    """Rows in the files, from their footers (no data is read)."""
    import pyarrow.parquet as pq

    total = 0
    for file in files:
        try:
            total += pq.ParquetFile(file).metadata.num_rows
        except Exception as exc:  # pyarrow raises several types for a file that is not parquet
            raise UsageError(f"{file} is not a readable parquet file: {_first_line(exc)}") from exc
    return total


BLOCKS_PER_ACTOR = 4


def rows_per_block(rows: int, batch_rows: int, actors: int) -> int:
    """How many rows each block handed to an actor holds: one batch, or less so every actor gets work.

    Ray Data sizes read blocks by bytes, so a dataset of few, expensive rows can arrive as a single
    block, which only one actor can take. Blocks are cut to at most one batch (an actor scores a
    block as one batch, as the local engine scores each batch it reads), and smaller where that
    would leave fewer than ``BLOCKS_PER_ACTOR`` blocks per actor, to leave room to balance actors
    that run at different speeds. A lone actor has nothing to balance and gets whole batches:
    smaller blocks only cost it batching (shared prompt prefixes, fuller forward passes).
    """
    if actors <= 1:
        return max(1, batch_rows)
    share = math.ceil(rows / (BLOCKS_PER_ACTOR * actors))
    return max(1, min(batch_rows, share))


def dataset_sha256(path: Path, files: list[Path]) -> str:
    """A file's SHA-256, or for a folder the SHA-256 of its files' relative names and digests."""
    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def check_engine_settings(config: ScanConfig) -> None:
    """Settings whose meaning needs one process reading the file in order are refused, in one line.

    So are backend settings an actor would only refuse after Ray has started and loaded models.
    """
    unsupported = [flag for flag, used in (
        ("--evidence/--resume", config.evidence_path is not None or config.resume),
        ("--shard (Ray partitions the work itself)", config.shard is not None),
        ("--max-rows", config.max_rows is not None),
    ) if used]
    if unsupported:
        raise UsageError(f"--engine ray does not support {', '.join(unsupported)}")
    backend = backend_info(config.backend)
    if not backend.restricted_vocabulary and config.resolution.scored_vocabulary is not None:
        raise UsageError(backend.restricted_vocabulary_refusal)
    missing = backend.missing()
    if not config.ray_address and missing is not None:
        # A cluster's nodes may have the backend where the driver does not; a local runtime is this machine.
        raise UsageError(missing)
    if config.ray_actors is not None and config.ray_actors < 1:
        raise UsageError("--ray-actors must be at least 1")


@dataclass(frozen=True)
class ActorPlan:
    """How many scoring actors run, and what each one asks Ray for."""

    actors: int
    threads: int
    """CPUs each actor asks for, and its torch/OpenMP threads when it scores on CPU."""
    gpus: int
    """GPUs each actor asks for: 1 for vLLM where the cluster has GPUs, else 0."""


def plan_actors(backend: str, requested: int | None, scoring_cpus: int, gpus: int) -> ActorPlan:
    """One vLLM actor per GPU where there are GPUs; otherwise the CPUs split evenly among actors.

    A vLLM engine wants a whole device (it reserves most of its memory up front), so on GPUs the
    default is one actor per GPU and more actors than GPUs are refused: Ray would wait forever for
    a GPU that never frees. On CPU every actor asks for ``scoring_cpus // actors`` CPUs and uses
    that many threads, whichever backend it holds.
    """
    if backend_info(backend).whole_gpu and gpus >= 1:
        actors = requested or gpus
        if actors > gpus:
            raise UsageError(f"--ray-actors {actors} is more than the cluster's {gpus} GPU(s); "
                             "a vLLM actor takes a whole GPU")
        return ActorPlan(actors=actors, threads=1, gpus=1)
    actors = requested or max(1, scoring_cpus)
    return ActorPlan(actors=actors, threads=max(1, scoring_cpus // actors), gpus=0)


def driver_identities(specs: list[ModelSpec], trust_remote_code: bool, backend: str = "transformers"
                      ) -> list[ModelInfo]:
    """Provenance of every spec, computed on the driver from tokenizers and weight hashes only.

    Also fails fast, before Ray starts, on a missing model or tokenizers that differ; and any GGUF
    conversion, and for vLLM actors the merge of a LoRA teacher into a copy of its weights, happens here
    once, not concurrently in every actor. (Transformers actors merge an adapter in memory, as the local
    backend does.)
    """
    from audit.models.backends.base import model_info
    from audit.models.store import (
        converted_folder,
        load_tokenizer,
        merged_folder,
        require_shared_tokenizer,
        tokenizer_fingerprint,
        weights_sha256,
    )

    fingerprints: dict[Any, str] = {}
    for spec in specs:
        if spec.adapter is not None and backend_info(backend).lora_on_disk:
            merged_folder(spec.source, spec.adapter, trust_remote_code)
        if spec.source not in fingerprints:
            converted_folder(spec.source)
            fingerprints[spec.source] = tokenizer_fingerprint(load_tokenizer(spec.source, trust_remote_code))
    require_shared_tokenizer(list(fingerprints.values()), [s.source.display_name for s in specs])
    return [model_info(s, weights_sha256(s.source), fingerprints[s.source]) for s in specs]


class ScoringActor:
    """A Ray Data actor: one backend, loaded once; scores each block it is given.

    Returns one record per input record, in order: its id, status, skip reason, the detectors'
    per-row columns (NaN unless scored), the completion token count and the per-position
    teacher-minus-baseline log-probabilities the report's position plot sums.
    """

    def __init__(self, config: ScanConfig, mapping: ColumnMapping, plan: ActorPlan) -> None:
        import ray

        from audit.models.backends import create_backend
        from audit.models.store import force_offline
        from audit.models.vocab import vocabulary

        force_offline()
        self.actor_id = ray.get_runtime_context().get_actor_id() or "driver"
        self.config = config
        self.mapping = mapping
        specs = model_specs(config)
        self.backend = create_backend(
            config.backend, specs, token_budget=config.token_budget, trust_remote_code=config.trust_remote_code,
            vocabulary=vocabulary(used) if (used := config.resolution.scored_vocabulary) else None,
            cpu_threads=plan.threads if plan.gpus == 0 else None,
        )
        self.formats = self.backend.prompt_formats()
        # The score cache, as a local scan uses it: the folder is shared by the actors of one machine (segments
        # are written atomically under names of their own), so a rescan of the same rows reads them back.
        self.cache = ScoreCache(open_score_store(config.trust_remote_code), keep_in_memory=False)
        self.scorer: ScoringBackend = (CachedBackend(self.backend, range(len(specs)), self.cache)
                                       if self.cache.store is not None else self.backend)
        roles = [spec.role for spec in specs]
        self.detectors = scan_detector_set(config, roles, self.formats[0].tokenizer)
        self.columns = self.detectors.columns
        self.positions = position_accumulator(roles)
        self.top = TopRowsTracker.for_roles(roles)

    def __del__(self) -> None:
        """Ray Data drops the actor's instance when the pool shuts down: stop vLLM's engine processes."""
        backend = getattr(self, "backend", None)
        if backend is not None:
            backend.close()

    def __call__(self, table: Any) -> Any:
        import pyarrow as pa

        from audit.models.encoding import encode_rows_detailed

        records = table.to_pylist()
        count = len(records)
        ids: list[str | None] = [None] * count
        status = [STATUS_UNPARSED] * count
        reasons: list[str | None] = [None] * count
        rows, where = [], []
        for i, record in enumerate(records):
            try:
                row = row_from_record(record, self.mapping, -1)
            except MessageFormatError as exc:
                raw = record.get(self.mapping.row_id or "")
                ids[i], reasons[i] = (None if raw is None else str(raw)), str(exc)
                continue
            ids[i] = row.row_id
            if self.config.sample_fraction < 1.0 and not in_sample(row.row_id, self.config.sample_fraction,
                                                                    self.config.seed):
                status[i] = STATUS_NOT_SAMPLED
                continue
            rows.append(row)
            where.append(i)
        encoded, skips = encode_rows_detailed(rows, self.formats, self.backend.vocab_mask)
        # Both lists keep the order of ``rows``; walk them together (ids may repeat within a block).
        encoded_at: list[int] = []
        next_encoded, next_skip = 0, 0
        for row, i in zip(rows, where, strict=True):
            if next_encoded < len(encoded) and encoded[next_encoded].row is row:
                encoded_at.append(i)
                next_encoded += 1
            else:
                status[i], reasons[i] = STATUS_SKIPPED, skips[next_skip][1]
                next_skip += 1
        values = {name: np.full(count, np.nan) for name in self.columns}
        tokens = np.zeros(count, dtype=np.int64)
        diffs: dict[str, list[list[float] | None]] = {name: [None] * count for name in self.positions.baselines}
        top_ids: list[list[int] | None] = [None] * count
        top_llr: list[list[float] | None] = [None] * count
        reused, computed = self.cache.store_hits, self.cache.computed
        if encoded:
            step = score_batch(self.scorer, self.detectors.detectors, self.positions, self.top, encoded)
            for k, (i, count_tokens) in enumerate(zip(encoded_at, step.tokens, strict=True)):
                status[i], tokens[i] = STATUS_SCORED, count_tokens
                for name, diff in step.differences[k].items():
                    diffs[name][i] = diff.tolist()
                if step.entries is not None:
                    top_ids[i], top_llr[i] = list(step.entries[k].token_ids), step.entries[k].token_llr.tolist()
            for name in self.columns:
                values[name][encoded_at] = step.columns[name]
        self.cache.close()  # written block by block: Ray does not promise to call __del__
        first_only = [0] * count
        out = {"row_id": pa.array(ids, pa.string()), "status": pa.array(status, pa.string()),
               "reason": pa.array(reasons, pa.string()), "tokens": pa.array(tokens),
               ACTOR_COLUMN: pa.array([self.actor_id] * count, pa.string()),
               CACHE_REUSED: pa.array([self.cache.store_hits - reused, *first_only[1:]], pa.int64()),
               CACHE_COMPUTED: pa.array([self.cache.computed - computed, *first_only[1:]], pa.int64()),
               CACHE_ERROR: pa.array([self.cache.store.write_error if self.cache.store else None,
                                      *[None] * (count - 1)], pa.string())}
        out.update({name: pa.array(v) for name, v in values.items()})
        out.update({POSITIONS_PREFIX + name: pa.array(v, pa.list_(pa.float64())) for name, v in diffs.items()})
        if self.top is not None:
            out[TOP_IDS] = pa.array(top_ids, pa.list_(pa.int64()))
            out[TOP_LLR] = pa.array(top_llr, pa.list_(pa.float64()))
        return pa.table(out)


def scored_batch(data: dict[str, list[Any]], kept: list[int], columns: list[str], baselines: list[str],
                 with_top: bool) -> ScoredBatch:
    """The actors' records at ``kept`` as the scoring step's own batch, for the shared row loop."""
    row_ids = [data["row_id"][k] for k in kept]
    return ScoredBatch(
        row_ids, [int(data["tokens"][k]) for k in kept],
        {name: np.asarray([data[name][k] for k in kept], dtype=np.float64) for name in columns},
        [{name: np.asarray(data[POSITIONS_PREFIX + name][k]) for name in baselines} for k in kept],
        [TopEntry(row_id, tuple(data[TOP_IDS][k]), np.asarray(data[TOP_LLR][k], dtype=np.float64))
         for row_id, k in zip(row_ids, kept, strict=True)] if with_top else None,
    )


@dataclass
class CacheTally:
    """The actors' score-cache counts, summed over the blocks (the report's ``score_cache``)."""

    reused: int = 0
    computed: int = 0
    write_error: str | None = None

    def add(self, data: dict[str, list[Any]]) -> None:
        if CACHE_REUSED in data:
            self.reused += sum(data[CACHE_REUSED])
            self.computed += sum(data[CACHE_COMPUTED])
            self.write_error = next((e for e in data[CACHE_ERROR] if e), self.write_error)


def reduce_block(loop: RowLoop, table: Any, rows_per_actor: Counter[str], cache: CacheTally | None = None) -> None:
    """Feed one block of the actors' records, in input order, through the local engine's row loop."""
    data = table.to_pydict()
    if cache is not None:
        cache.add(data)
    status = data["status"]
    loop.read(table.num_rows, [data["reason"][i] for i, s in enumerate(status) if s == STATUS_UNPARSED])
    parsed = [i for i, s in enumerate(status) if s != STATUS_UNPARSED]
    first = loop.first_occurrences([data["row_id"][i] for i in parsed])
    firsts = [i for i, is_first in zip(parsed, first, strict=True) if is_first]
    loop.not_sampled(sum(status[i] == STATUS_NOT_SAMPLED for i in firsts))
    loop.skip((data["row_id"][i], data["reason"][i]) for i in firsts if status[i] == STATUS_SKIPPED)
    kept = [i for i in firsts if status[i] == STATUS_SCORED]
    rows_per_actor.update(data[ACTOR_COLUMN][k] for k in kept)
    loop.add(scored_batch(data, kept, loop.column_names, list(loop.positions.baselines), loop.top is not None))


READ_SLOTS = 1
"""Logical CPUs left to Ray Data's own file listing and parquet reading, which ask for one CPU
each: if the scoring actors held every CPU, reading could never be scheduled and the scan would
hang. Reading is light next to scoring, so on a local runtime this slot is one logical CPU on
top of the machine's (the actors' threads still add up to the machine's cores)."""


def _start_ray(config: ScanConfig) -> tuple[Any, ActorPlan]:
    """Join ``--ray-address`` or start a local runtime (no dashboard, no usage telemetry).

    Returns Ray and the actor plan for the cluster's CPUs and GPUs.
    """
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    try:
        import ray
        import ray.data
    except ImportError:
        raise UsageError("--engine ray needs Ray: pip install 'subaudit[ray]' (make install includes it)") from None
    env = {name: os.environ[name] for name in _WORKER_ENV if name in os.environ}
    env.update(RAY_USAGE_STATS_ENABLED="0", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    local_cpus = os.cpu_count() or 1
    try:
        if config.ray_address:
            ray.init(address=config.ray_address, runtime_env={"env_vars": env}, log_to_driver=False)
            scoring_cpus = int(ray.cluster_resources().get("CPU", 1)) - READ_SLOTS
        else:
            ray.init(num_cpus=local_cpus + READ_SLOTS, include_dashboard=False, runtime_env={"env_vars": env},
                     log_to_driver=False, object_store_memory=256 * 1024 * 1024)
            scoring_cpus = local_cpus
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise UsageError(f"cannot start or join Ray ({config.ray_address or 'local'}): "
                         f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from exc
    try:
        plan = plan_actors(config.backend, config.ray_actors, scoring_cpus,
                           int(ray.cluster_resources().get("GPU", 0)))
    except UsageError:
        _stop_ray(ray, config)
        raise
    return ray, plan


def _stop_ray(ray: Any, config: ScanConfig) -> None:
    """Shut down a runtime this scan started; leave a joined cluster running."""
    if not config.ray_address:
        ray.shutdown()


def run_ray_scan(config: ScanConfig, progress: ProgressCallback | None = None) -> Report:
    """A scan whose scoring runs in Ray Data actors; same report as :func:`audit.pipeline.local.run_scan`."""
    started = time.perf_counter()
    validate(config)
    files = parquet_files(config.input_path)
    rows = parquet_rows(files)  # every file's footer: a corrupt file fails here, before models load
    config = resolve_vocabulary(config, read_from=files)
    check_engine_settings(config)
    config = resolve_null(config, can_generate=False)
    first = DatasetReader(files[0], config.columns, "parquet", config.batch_rows)
    mapping = first.mapping
    if mapping.row_id is None:
        # Ray's readers do not tell an actor where in the dataset its block starts, so the
        # row-index ids of the local engine cannot be reproduced there.
        raise UsageError("--engine ray needs an id column (found none; name it with --id-col)")
    specs = model_specs(config)
    models = driver_identities(specs, config.trust_remote_code, config.backend)
    calibration = prepare_calibration(config, models)
    roles = [spec.role for spec in specs]
    detectors = scan_detector_set(config, roles, None)  # the driver only summarizes
    columns = detectors.columns
    sha256 = dataset_sha256(config.input_path, files)
    size = sum(f.stat().st_size for f in files)

    ray, plan = _start_ray(config)
    try:
        data_context = ray.data.DataContext.get_current()
        data_context.execution_options.preserve_order = True
        data_context.wait_for_min_actors_s = ACTOR_START_TIMEOUT_S
        block_rows = rows_per_block(rows, config.batch_rows, plan.actors)
        try:
            dataset = ray.data.read_parquet([str(f) for f in files]).select_columns(mapping.needed())
        except Exception as exc:  # Ray wraps pyarrow's errors in its own types
            raise UsageError(f"Ray cannot read {config.input_path}: {str(exc).strip().splitlines()[0]}") from exc
        # Streaming (no shuffle, order kept): split or join the read blocks into block_rows each.
        dataset = dataset.repartition(target_num_rows_per_block=block_rows)
        scored = dataset.map_batches(
            ScoringActor, fn_constructor_kwargs={"config": config, "mapping": mapping, "plan": plan},
            # One block per call: a larger batch_size would make Ray bundle several blocks into one
            # task, for one actor, and undo the cut above.
            batch_size=block_rows, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=plan.actors),
            num_cpus=plan.threads, num_gpus=plan.gpus,
        )
        loaded = time.perf_counter()
        rows_per_actor: Counter[str] = Counter()
        cache = CacheTally()
        with ScoresWriter(config.scores_path, columns) as writer:
            loop = RowLoop(columns, roles, writer, progress=progress)
            try:
                for table in scored.iter_batches(batch_format="pyarrow", batch_size=None):
                    reduce_block(loop, table, rows_per_actor, cache)
            except ray.exceptions.GetTimeoutError as exc:
                raise ToolError(f"Ray did not start {plan.actors} scoring actor(s) of {plan.threads} CPU"
                                f"{f' + {plan.gpus} GPU' if plan.gpus else ''} each within "
                                f"{ACTOR_START_TIMEOUT_S} s; does the cluster have those resources free?") from exc
            except ray.exceptions.RayError as exc:
                raise ToolError(f"a Ray scoring actor failed: {_first_line(exc)}") from exc
            state = loop.finish()
    finally:
        _stop_ray(ray, config)
    report = build_report(config, ScannedInput("parquet", mapping, sha256, size), models, detectors,
                          state, loop.positions, StageTimes(started, loaded, time.perf_counter()), calibration)
    if loop.top is not None:
        from audit.models.store import load_tokenizer

        # The models share one tokenizer (driver_identities checked it): decode the kept rows' tokens with it.
        reference = specs[roles.index("reference")].source
        report.top_rows = loop.top.result(load_tokenizer(reference, config.trust_remote_code))
    folder = score_cache_folder()
    if folder is not None and not config.trust_remote_code:  # as the actors decided (same environment)
        report.score_cache = ScoreCacheInfo(folder=str(folder), reused=cache.reused, computed=cache.computed,
                                            write_error=cache.write_error)
    report.ray = RayRun(cluster=config.ray_address or "local", actors=plan.actors, cpus_per_actor=plan.threads,
                        gpus_per_actor=plan.gpus, rows_per_block=block_rows,
                        rows_per_actor=sorted(rows_per_actor.values(), reverse=True))
    if not config.traits:
        from audit.pipeline.on_demand import all_baselines

        report.baselines = all_baselines(specs, "the Ray engine scores every baseline")
    return with_teacher_traits(report, config, specs)


def _first_line(exc: BaseException) -> str:
    """The last meaningful line of a Ray error (its first lines are Ray's own framing)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
