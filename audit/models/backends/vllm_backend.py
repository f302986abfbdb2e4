"""Scoring with vLLM: the completion tokens' log-probabilities from the engine's prompt logprobs.

Each row is sent as the exact token ids the transformers backend scores (``TokensPrompt`` of prompt
ids followed by completion ids), so both backends see one tokenization. vLLM returns, for every
prompt position, the log-probability of the token actually there (``prompt_logprobs=0``, flat
format: a handful of lists per request rather than a dict per position); the completion's slice
of that list is the row's score. One engine is started per distinct weights source; a prompted
teacher shares the reference's engine and differs only in its prompt ids.

A teacher given as a LoRA adapter gets its own engine on a merged copy of the weights (cached
under the cache folder, keyed by base and adapter hashes), not a LoRA request: in vLLM's V1
engine, LoRA and prompt logprobs do not mix. On this CPU build a LoRA request with prompt logprobs
fails in the LoRA logits layer (its index mapping is sized for sampled positions, not prompt
positions; vllm-project/vllm#16668, #29955), and where it runs, an lm_head delta is silently left
out of prompt logprobs (#51594). A merged copy scores exactly what the transformers backend scores.

Settings that decide correctness, not speed:
- prefix caching off: a cached prefix is not recomputed, and its prompt logprobs are then missing;
- ``skip_tokenizer_init`` and no detokenization: ids in, log-probabilities out, no text round trip;
- float32 weights, so scores agree with the transformers backend (fp32) to about 1e-4 per token.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from audit.core.errors import ToolError, UsageError
from audit.core.rows import EncodedRow, ScoredRow
from audit.models.backends import VLLM_INSTALL_HINT, backend_info
from audit.models.backends.base import model_info
from audit.models.encoding import PromptFormat
from audit.models.lora import LoraAdapter
from audit.models.spec import ModelSpec, WeightsSource
from audit.models.store import (
    config_context_length,
    converted_folder,
    force_offline,
    load_tokenizer,
    merged_folder,
    refuse_remote_code,
    require_shared_tokenizer,
    tokenizer_fingerprint,
    weights_sha256,
)
from audit.models.vocab import Vocabulary
from audit.report.schema import ModelInfo

INSTALL_HINT = VLLM_INSTALL_HINT

CPU_MEMORY_FRACTION = 0.3
"""Share of host memory a CPU engine may take for weights and KV cache (vLLM's default is for GPUs)."""
GPU_MEMORY_FRACTION = 0.85
RESTRICT_VOCAB_REFUSED = backend_info("vllm").restricted_vocabulary_refusal


def vllm_available() -> bool:
    """Whether vLLM can be imported, checked without importing it."""
    return importlib.util.find_spec("vllm") is not None


def _quiet_and_offline() -> None:
    """No usage statistics, no hub, errors only on stderr: set before vLLM is first imported."""
    force_offline()
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")  # the engine's C++ warnings (NUMA binding)
    # When a scan is stopped (SIGTERM, Ctrl-C), multiprocessing's resource tracker, a separate process
    # vLLM's engine starts, may warn of leaked semaphores after subaudit's own one-line error, racing
    # it to the last line of stderr. The tracker reads its warning filters from this variable.
    os.environ.setdefault("PYTHONWARNINGS", "ignore:resource_tracker:UserWarning")


def _bind_all_cpus() -> None:
    """Give the CPU worker every CPU this process may use, unless the user chose a binding.

    vLLM's CPU default reserves a core for its scheduler process and binds the model to the
    rest; scoring is a few large prefills, during which the scheduler has nothing to do, and on
    this 2-core machine the default halved throughput (median 69.9 s against 37.5 s for the same
    96 rows in two `benchmarks/bench.py --worker vllm` runs).
    """
    cpus = sorted(os.sched_getaffinity(0))
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", ",".join(str(c) for c in cpus))
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")


def _use_cpus(threads: int | None) -> float:
    """Set the CPU engine's threads before it starts; return its share of the machine's CPUs.

    All CPUs (None): bound to every CPU this process may use (:func:`_bind_all_cpus`). A share (a
    Ray actor among others on one node): that many OpenMP threads, unpinned, since engines that
    each bound to every CPU would fight over the same cores.
    """
    cpus = os.cpu_count() or 1
    if threads is None or threads >= cpus:
        _bind_all_cpus()
        return 1.0
    os.environ["VLLM_CPU_OMP_THREADS_BIND"] = "nobind"
    os.environ["OMP_NUM_THREADS"] = str(threads)
    return threads / cpus


def completion_slice(prompt_logprobs: Any, token_ids: Sequence[int], start: int) -> np.ndarray:
    """log p of ``token_ids[start:]`` from one request's flat prompt logprobs.

    With ``prompt_logprobs=0`` vLLM returns exactly one entry per position (the token that is
    there); the ids are checked so that a change in that contract fails loudly, not silently.
    """
    starts = prompt_logprobs.start_indices[start : len(token_ids)]
    ids = [prompt_logprobs.token_ids[i] for i in starts]
    if ids != list(token_ids[start:]):
        raise ToolError("vLLM returned prompt logprobs for other tokens than the ones sent")
    return np.array([prompt_logprobs.logprobs[i] for i in starts], dtype=np.float64)


class _Engine:
    """One vLLM engine for one weights source (and adapter), with the identities the report needs."""

    def __init__(self, source: WeightsSource, trust_remote_code: bool, memory_fraction: float,
                 adapter: LoraAdapter | None = None) -> None:
        from vllm import LLM

        folder = converted_folder(source)
        refuse_remote_code(folder, source.display_name, trust_remote_code)
        if adapter is not None:
            folder = merged_folder(source, adapter, trust_remote_code)
        self.tokenizer = load_tokenizer(source, trust_remote_code)
        self.tokenizer_sha256 = tokenizer_fingerprint(self.tokenizer)
        self.weights_sha256 = weights_sha256(source)
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=trust_remote_code)
        self.context_length = config_context_length(config)
        try:
            self.llm = LLM(
                model=str(folder),
                skip_tokenizer_init=True,
                dtype="float32",
                enable_prefix_caching=False,
                enforce_eager=True,
                gpu_memory_utilization=memory_fraction,
                max_model_len=self.context_length,
                trust_remote_code=trust_remote_code,
                seed=0,
                use_tqdm_on_load=False,  # its bar is written by the worker process, past --quiet
            )
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ToolError(f"vLLM cannot start {source.display_name}: {first}") from exc

    def close(self) -> None:
        engine_core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if engine_core is not None:
            engine_core.shutdown()


class VllmBackend:
    """Starts one vLLM engine per distinct weights source and scores every spec through it."""

    name = "vllm"

    def __init__(
        self,
        specs: Sequence[ModelSpec],
        token_budget: int = 8192,
        trust_remote_code: bool = False,
        vocabulary: Vocabulary | None = None,
        cpu_threads: int | None = None,
    ) -> None:
        """``cpu_threads``: how many of this machine's CPUs the engines may use (see
        :func:`audit.models.backends.create_backend`). On CPU it sets their thread count and their share of
        the host-memory budget; on a GPU each Ray actor holds a whole device and it is ignored."""
        if vocabulary is not None:
            raise UsageError(RESTRICT_VOCAB_REFUSED)
        if not vllm_available():
            raise UsageError(INSTALL_HINT)
        _quiet_and_offline()
        from vllm.platforms import current_platform

        fraction = GPU_MEMORY_FRACTION
        if current_platform.is_cpu():
            fraction = CPU_MEMORY_FRACTION * _use_cpus(cpu_threads)
        memory_fraction = fraction / len({(spec.source, spec.adapter) for spec in specs})
        self.specs: Sequence[ModelSpec] = list(specs)
        self.token_budget = token_budget
        self.vocab_mask: np.ndarray | None = None
        self._engines: dict[tuple[WeightsSource, LoraAdapter | None], _Engine] = {}
        try:
            for spec in self.specs:
                key = (spec.source, spec.adapter)
                if key not in self._engines:
                    self._engines[key] = _Engine(spec.source, trust_remote_code, memory_fraction, spec.adapter)
        except BaseException:
            self.close()
            raise
        require_shared_tokenizer([engine.tokenizer_sha256 for engine in self._engines.values()],
                                 [s.source.display_name for s in self.specs])

    def _for(self, spec: ModelSpec) -> _Engine:
        return self._engines[(spec.source, spec.adapter)]

    def prompt_formats(self) -> list[PromptFormat]:
        # One position short of the context: vLLM also decodes one token after the prompt.
        return [
            PromptFormat(self._for(s).tokenizer, s.system_prompt, self._for(s).context_length - 1)
            for s in self.specs
        ]

    def identities(self) -> list[ModelInfo]:
        return [model_info(s, self._for(s).weights_sha256, self._for(s).tokenizer_sha256) for s in self.specs]

    def score(self, rows: Sequence[EncodedRow]) -> list[ScoredRow]:
        return self.score_specs(rows, range(len(self.specs)))

    def score_specs(self, rows: Sequence[EncodedRow], indices: Sequence[int]) -> list[ScoredRow]:
        """Score rows under the specs at ``indices`` only (log-probabilities in that order)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, flat_logprobs=True,
                                detokenize=False)
        wanted = list(indices)
        per_spec: dict[int, list[np.ndarray]] = {k: [] for k in wanted}
        for key, engine in self._engines.items():
            spec_indices = [k for k in wanted if (self.specs[k].source, self.specs[k].adapter) == key]
            if not spec_indices:
                continue
            prompts = [
                TokensPrompt(prompt_token_ids=[*row.prompt_ids[k], *row.completion_ids])
                for k in spec_indices for row in rows
            ]
            outputs = engine.llm.generate(prompts, params, use_tqdm=False)
            for position, k in enumerate(spec_indices):
                for i, row in enumerate(rows):
                    output = outputs[position * len(rows) + i]
                    per_spec[k].append(completion_slice(
                        output.prompt_logprobs, prompts[position * len(rows) + i]["prompt_token_ids"],
                        len(row.prompt_ids[k]),
                    ))
        return [ScoredRow(row, tuple(per_spec[k][i] for k in wanted)) for i, row in enumerate(rows)]

    def close(self) -> None:
        """Stop the engines' worker processes (they also stop when this process exits)."""
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()
