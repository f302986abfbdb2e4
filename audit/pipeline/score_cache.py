"""Scores computed once: token log-probabilities reused within a scan and across scans of the same rows.

Why: a row's log-probabilities under a model depend only on that model (weights, adapter, the system
prompt already inside the prompt tokens), the vocabulary they are normalised over, the backend, and the
exact token ids of prompt and completion. The reference's and the panel's scores of a file do not
depend on the teacher, yet every scan, probe and calibration of that file used to recompute them.

Keys: a *model key* (SHA-256 of the spec's provenance record, the vocabulary mask and the backend) and a
*row key* (blake2b of the prompt and completion token ids). A changed row, tokenizer, system prompt,
adapter, vocabulary or weights file gives a new key, so a stale hit cannot happen; rows that did not change
are found again even when the file around them changed (a CI gate re-run on appended data pays only for
the new rows). Models loaded with ``--trust-remote-code`` are never cached: their code, not hashed, may
change what the same weights compute.

The values stored are the ones the first scan computed. A fresh computation of the same row in another
batch can differ in the last bits (padding and the shared prompt prefix change the float summation
order), which is why a cached and an uncached scan agree to about 1e-6 nats, not bit for bit.

Storage: :class:`ScoreStore` (module docstring of :mod:`audit.pipeline.score_store`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np

from audit.core.rows import EncodedRow, ScoredRow
from audit.models.backends.base import ScoringBackend
from audit.models.encoding import PromptFormat
from audit.models.spec import ModelSpec
from audit.pipeline.score_store import ScoreStore
from audit.report.schema import ModelInfo, ScoreCacheInfo

KEY_FORMAT = 1
"""Bump when what a model key covers changes (old entries then stop matching)."""

MEMORY_ENTRIES = 200_000
"""(row, model) sequences a staged scan keeps in memory (about 160 MB at 100 tokens a row); the oldest go first,
and a later stage that needs one again reads it from the disk cache or scores it again (same values)."""


def row_key(prompt_ids: Sequence[int], completion_ids: Sequence[int]) -> bytes:
    """Digest of exactly what a spec scores for a row: its prompt tokens and the completion tokens."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.asarray(prompt_ids, dtype=np.int64).tobytes())
    digest.update(b"|")
    digest.update(np.asarray(completion_ids, dtype=np.int64).tobytes())
    return digest.digest()


def model_key(identity: ModelInfo, backend: str, vocab_mask: np.ndarray | None) -> str:
    """What a spec's log-probabilities depend on besides the row's tokens, as one hex digest."""
    record = {
        "key_format": KEY_FORMAT,
        "backend": backend,
        "weights_sha256": identity.weights_sha256,
        "tokenizer_sha256": identity.tokenizer_sha256,
        "adapter_sha256": identity.adapter_sha256,
        "system_prompt": identity.system_prompt,
        "vocabulary": None if vocab_mask is None else hashlib.sha256(
            np.packbits(np.asarray(vocab_mask, dtype=bool)).tobytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def model_label(identity: ModelInfo, backend: str, vocab_mask: np.ndarray | None) -> dict[str, object]:
    """What ``subaudit cache info`` shows for a model key (the key itself is a digest)."""
    prompt = identity.system_prompt
    return {"source": identity.source, "adapter": identity.adapter, "backend": backend,
            "system_prompt": None if prompt is None else (prompt[:60] + ("..." if len(prompt) > 60 else "")),
            "vocabulary": "full" if vocab_mask is None else f"{int(np.count_nonzero(vocab_mask))} tokens"}


class ScoreCache:
    """Log-probabilities by (model key, row key): in this process (optional), then on disk (optional).

    ``keep_in_memory``: a staged scan (audit.pipeline.on_demand) re-reads its rows once per stage and must
    not score the teacher and reference again; other scans read each row once and keep nothing.
    """

    def __init__(self, store: ScoreStore | None, keep_in_memory: bool) -> None:
        self.store = store
        self._memory: dict[tuple[str, bytes], np.ndarray] | None = {} if keep_in_memory else None
        self.memory_hits = 0
        self.store_hits = 0
        self.computed = 0

    def get_many(self, key: str, rows: Sequence[bytes]) -> list[np.ndarray | None]:
        found: list[np.ndarray | None] = [None] * len(rows)
        if self._memory is not None:
            for i, row in enumerate(rows):
                found[i] = self._memory.get((key, row))
            self.memory_hits += sum(f is not None for f in found)
        if self.store is not None:
            missing = [i for i, f in enumerate(found) if f is None]
            if missing:
                stored = self.store.lookup(key, [rows[i] for i in missing])
                for i, value in zip(missing, stored, strict=True):
                    found[i] = value
                self.store_hits += sum(value is not None for value in stored)
                if self._memory is not None:
                    for i in missing:
                        if found[i] is not None:
                            self._memory[(key, rows[i])] = found[i]  # type: ignore[assignment]
        return found

    def put_many(self, key: str, rows: Sequence[bytes], values: Sequence[np.ndarray]) -> None:
        self.computed += len(rows)
        if self._memory is not None:
            for row, value in zip(rows, values, strict=True):
                self._memory[(key, row)] = value
            while len(self._memory) > MEMORY_ENTRIES:  # dicts keep insertion order: the oldest go first
                del self._memory[next(iter(self._memory))]
        if self.store is not None:
            self.store.add(key, rows, values)

    def close(self) -> None:
        """Write what this process computed (whole segments or nothing)."""
        if self.store is not None:
            self.store.flush()

    def info(self) -> ScoreCacheInfo | None:
        """The report's record; None when no store was used."""
        if self.store is None:
            return None
        return ScoreCacheInfo(folder=str(self.store.root), reused=self.store_hits, computed=self.computed,
                              write_error=self.store.write_error)


class CachedBackend:
    """A backend that scores only some of a loaded backend's specs, taking what it can from a cache.

    ``prompt_formats`` stays every spec's, so rows are encoded (and skipped) exactly as a scan of every
    spec would; ``identities`` and the scored log-probabilities are the subset's, in its order.
    """

    def __init__(self, backend: ScoringBackend, indices: Sequence[int], cache: ScoreCache) -> None:
        self.inner = backend
        self.indices = list(indices)
        self.cache = cache
        self.name = backend.name
        self.specs: Sequence[ModelSpec] = [backend.specs[k] for k in self.indices]
        self.vocab_mask = backend.vocab_mask
        every = backend.identities()
        self._keys = {k: model_key(every[k], backend.name, backend.vocab_mask) for k in self.indices}
        if cache.store is not None:
            for k in self.indices:
                cache.store.describe(self._keys[k], model_label(every[k], backend.name, backend.vocab_mask))

    def prompt_formats(self) -> list[PromptFormat]:
        return self.inner.prompt_formats()

    def identities(self) -> list[ModelInfo]:
        every = self.inner.identities()
        return [every[k] for k in self.indices]

    def score(self, rows: Sequence[EncodedRow]) -> list[ScoredRow]:
        columns: list[list[np.ndarray]] = []
        for k in self.indices:
            keys = [row_key(row.prompt_ids[k], row.completion_ids) for row in rows]
            found = self.cache.get_many(self._keys[k], keys)
            missing = [i for i, value in enumerate(found) if value is None]
            if missing:
                fresh = [s.logprobs[0] for s in self.inner.score_specs([rows[i] for i in missing], [k])]
                self.cache.put_many(self._keys[k], [keys[i] for i in missing], fresh)
                for i, value in zip(missing, fresh, strict=True):
                    found[i] = value
            filled = [value for value in found if value is not None]
            assert len(filled) == len(rows)
            columns.append(filled)
        return [ScoredRow(row, tuple(column[i] for column in columns)) for i, row in enumerate(rows)]

    def score_specs(self, rows: Sequence[EncodedRow], indices: Sequence[int]) -> list[ScoredRow]:
        return self.inner.score_specs(rows, [self.indices[i] for i in indices])

    def close(self) -> None:
        """The loaded backend belongs to the caller."""
