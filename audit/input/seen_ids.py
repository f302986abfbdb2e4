"""Duplicate row-id detection in a few bytes per row, for datasets of millions of rows.

Row ids key the scores file (and later resume and merge), so a repeated id must not be scored
twice. Keeping every id string in a Python set would cost ~100 bytes per row; instead each id is
reduced to a 64-bit BLAKE2b digest, kept in a sorted numpy array (8 bytes per row) plus a small
Python set of recent digests that is merged into the array when it grows. A digest collision
between distinct ids (probability ~n^2 / 2^65, about 3e-8 at 1M rows) would skip one row as a
duplicate; the report counts it either way, so nothing is silent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

_MERGE_EVERY = 65_536


def id_digest(row_id: str) -> int:
    """Unsigned 64-bit digest of a row id."""
    return int.from_bytes(hashlib.blake2b(row_id.encode("utf-8"), digest_size=8).digest(), "little")


def in_sample(row_id: str, fraction: float, seed: int = 0) -> bool:
    """Deterministic row sampling by id: the same rows are chosen in every run, shard and resume."""
    if fraction >= 1.0:
        return True
    return id_digest(f"{seed}:{row_id}") < fraction * 2.0**64


def in_shard(row_id: str, part: int, parts: int) -> bool:
    """Whether a row belongs to shard ``part`` (1-based) of ``parts``: a partition by id hash."""
    return parts == 1 or id_digest(f"shard:{row_id}") % parts == part - 1


def canonical_order(row_ids: Iterable[str]) -> np.ndarray:
    """Indices that sort rows by id digest: the order every dataset summary sees its rows in.

    Summaries that depend on row order (the seeded bootstrap, float summation) then give the same
    numbers for a full scan, a resumed one and a merge of shards.
    """
    digests = np.fromiter((id_digest(row_id) for row_id in row_ids), dtype=np.uint64)
    return np.argsort(digests, kind="stable")


class SeenIds:
    """Set of row ids seen so far; ``first_time`` says whether an id is new and records it."""

    def __init__(self) -> None:
        self._sorted = np.empty(0, dtype=np.uint64)
        self._recent: set[int] = set()

    def __len__(self) -> int:
        return int(self._sorted.size) + len(self._recent)

    def _in_sorted(self, digest: int) -> bool:
        if self._sorted.size == 0:
            return False
        value = np.uint64(digest)
        position = int(np.searchsorted(self._sorted, value))
        return position < self._sorted.size and self._sorted[position] == value

    def first_time(self, row_id: str) -> bool:
        digest = id_digest(row_id)
        if digest in self._recent or self._in_sorted(digest):
            return False
        self._recent.add(digest)
        if len(self._recent) >= _MERGE_EVERY:
            merged = np.concatenate([self._sorted, np.fromiter(self._recent, dtype=np.uint64)])
            self._sorted = np.sort(merged)
            self._recent.clear()
        return True

    def new_only(self, row_ids: Iterable[str]) -> list[bool]:
        """For each id in order: True the first time it is seen (in this call or any earlier one)."""
        return [self.first_time(row_id) for row_id in row_ids]
