"""The score cache on disk: parquet segments per model key, written atomically, bounded in size.

Layout under the folder (``$SUBAUDIT_SCORE_CACHE``, default ``<cache root>/scores``; ``off`` disables it)::

    <model key>/model.json            what the key stands for (source, system prompt, backend, vocabulary)
    <model key>/<segment>.parquet     row_key (16 bytes), logprobs (list of float64), one row per scored row

A segment is written under a temporary name and renamed, so a killed scan leaves whole segments or
none, and two scans of the same file at once can only write the same values twice. After each write the
least recently used segments (a read refreshes a segment's modification time) are removed until the
folder fits ``$SUBAUDIT_SCORE_CACHE_MAX_MB`` (default 2048). A segment removed under a running scan is a
miss, scored again, never an error.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audit.core.atomic import atomic_path, write_text_atomic
from audit.core.errors import UsageError

OFF_VALUES = frozenset({"off", "0", "no", "none", "false"})
DEFAULT_MAX_MB = 2048
SEGMENT_ROWS = 4096
"""Rows of one model key buffered before they are written as a segment (the rest at the scan's end)."""
_TABLES_KEPT = 8


def score_cache_folder() -> Path | None:
    """The folder from the environment, or None when the cache is switched off."""
    from audit.models.store import cache_root

    value = os.environ.get("SUBAUDIT_SCORE_CACHE", "").strip()
    if value.lower() in OFF_VALUES:
        return None
    return Path(value).expanduser() if value else cache_root() / "scores"


def score_cache_limit() -> int:
    """Bytes the folder may hold (``$SUBAUDIT_SCORE_CACHE_MAX_MB``)."""
    value = os.environ.get("SUBAUDIT_SCORE_CACHE_MAX_MB", "").strip()
    if not value:
        return DEFAULT_MAX_MB * 2**20
    try:
        megabytes = float(value)
    except ValueError:
        raise UsageError(f"SUBAUDIT_SCORE_CACHE_MAX_MB must be a number of megabytes, not {value!r}") from None
    if megabytes <= 0:
        raise UsageError(f"SUBAUDIT_SCORE_CACHE_MAX_MB must be above 0, not {value!r}")
    return int(megabytes * 2**20)


def open_score_store(trust_remote_code: bool) -> ScoreStore | None:
    """The store a scan uses, or None (switched off, or remote code that the key cannot vouch for)."""
    folder = score_cache_folder()
    if folder is None or trust_remote_code:
        return None
    return ScoreStore(folder, score_cache_limit())


@dataclass(frozen=True)
class _Location:
    segment: Path
    index: int


class ScoreStore:
    """Reads and writes one cache folder for one process."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._index: dict[str, dict[bytes, _Location]] = {}
        self._tables: OrderedDict[Path, list[np.ndarray]] = OrderedDict()
        self._pending: dict[str, tuple[list[bytes], list[np.ndarray]]] = {}
        self._labels: dict[str, dict[str, object]] = {}
        self.rows_written = 0
        self.write_error: str | None = None
        """Why the last write failed (a full or read-only disk): the scan goes on, its scores unsaved."""

    def describe(self, key: str, label: dict[str, object]) -> None:
        """Remember what ``key`` stands for; written beside its first segment."""
        self._labels[key] = label

    def lookup(self, key: str, rows: Sequence[bytes]) -> list[np.ndarray | None]:
        """The stored log-probabilities of each row under ``key`` (None where absent)."""
        index = self._index_of(key)
        found: list[np.ndarray | None] = [None] * len(rows)
        for i, row in enumerate(rows):
            location = index.get(row)
            if location is None:
                continue
            values = self._segment_values(location.segment)
            if values is None:
                for gone in [r for r, loc in index.items() if loc.segment == location.segment]:
                    del index[gone]
                continue
            found[i] = values[location.index]
        return found

    def add(self, key: str, rows: Sequence[bytes], values: Sequence[np.ndarray]) -> None:
        """Buffer newly computed rows; a full buffer is written as a segment."""
        keys, arrays = self._pending.setdefault(key, ([], []))
        keys.extend(rows)
        arrays.extend(values)
        if len(keys) >= SEGMENT_ROWS:
            self._write_safely([key])

    def flush(self) -> None:
        """Write every buffered row, then bring the folder within its size limit."""
        self._write_safely(list(self._pending))

    def _write_safely(self, keys: list[str]) -> None:
        """A cache that cannot be written must not fail the scan it serves: the error is recorded instead."""
        try:
            for key in keys:
                self._write(key)
            self._evict()
        except OSError as error:
            for key in keys:
                self._pending.pop(key, None)
            self.write_error = f"{type(error).__name__}: {error}"

    def _index_of(self, key: str) -> dict[bytes, _Location]:
        if key not in self._index:
            import pyarrow.parquet as pq

            index: dict[bytes, _Location] = {}
            for segment in sorted((self.root / key).glob("*.parquet")):
                try:
                    column = pq.read_table(segment, columns=["row_key"]).column("row_key").to_pylist()
                except (FileNotFoundError, OSError):
                    continue
                for i, row in enumerate(column):
                    index.setdefault(row, _Location(segment, i))
            self._index[key] = index
        return self._index[key]

    def _segment_values(self, segment: Path) -> list[np.ndarray] | None:
        if segment in self._tables:
            self._tables.move_to_end(segment)
            return self._tables[segment]
        import pyarrow.parquet as pq

        try:
            column = pq.read_table(segment, columns=["logprobs"]).column("logprobs")
            os.utime(segment)  # least recently used goes first
        except (FileNotFoundError, OSError):
            return None
        combined = column.combine_chunks()
        offsets = combined.offsets.to_numpy()
        flat = combined.values.to_numpy(zero_copy_only=False)
        values = [flat[offsets[i]:offsets[i + 1]].copy() for i in range(len(offsets) - 1)]
        self._tables[segment] = values
        if len(self._tables) > _TABLES_KEPT:
            self._tables.popitem(last=False)
        return values

    def _write(self, key: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        keys, arrays = self._pending.pop(key, ([], []))
        if not keys:
            return
        folder = self.root / key
        folder.mkdir(parents=True, exist_ok=True)
        label = folder / "model.json"
        if not label.exists() and key in self._labels:
            write_text_atomic(label, json.dumps(self._labels[key], indent=1) + "\n")
        table = pa.table({
            "row_key": pa.array(keys, type=pa.binary(16)),
            "logprobs": pa.array([np.asarray(a, dtype=np.float64) for a in arrays], type=pa.list_(pa.float64())),
        })
        segment = folder / f"{time.time_ns():x}-{os.getpid()}.parquet"
        with atomic_path(segment) as tmp:
            pq.write_table(table, tmp)
        self.rows_written += len(keys)
        index = self._index_of(key)
        for i, row in enumerate(keys):
            index.setdefault(row, _Location(segment, i))

    def _evict(self) -> None:
        segments = []
        for path in (p for folder in self.root.glob("*") if is_model_folder(folder) for p in folder.glob("*.parquet")):
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed by another process meanwhile
                continue
            segments.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in segments)
        for _, size, path in sorted(segments):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size


@dataclass(frozen=True)
class CachedModel:
    """One model key's part of the folder, for ``subaudit cache info``."""

    key: str
    label: dict[str, object]
    rows: int
    segments: int
    bytes: int
    last_used: float


def cached_models(root: Path) -> list[CachedModel]:
    """Every model key under ``root`` (most recently used first)."""
    import pyarrow.parquet as pq

    found = []
    for folder in sorted(p for p in root.glob("*") if is_model_folder(p)):
        segments = sorted(folder.glob("*.parquet"))
        if not segments:
            continue
        label_file = folder / "model.json"
        label = json.loads(label_file.read_text(encoding="utf-8")) if label_file.is_file() else {}
        found.append(CachedModel(
            key=folder.name, label=label, rows=sum(pq.ParquetFile(s).metadata.num_rows for s in segments),
            segments=len(segments), bytes=sum(s.stat().st_size for s in segments),
            last_used=max(s.stat().st_mtime for s in segments)))
    return sorted(found, key=lambda m: -m.last_used)


def is_model_folder(folder: Path) -> bool:
    """A folder this cache wrote: named by a model key (64 hex digits)."""
    name = folder.name
    return folder.is_dir() and len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def clear_folder(root: Path) -> tuple[int, int]:
    """Remove every model entry under ``root`` (bytes freed, entries removed).

    Only folders named by a model key go, so a cache folder pointed at a shared place never loses
    anything this cache did not write.
    """
    freed = removed = 0
    for folder in (p for p in root.glob("*") if is_model_folder(p)) if root.is_dir() else ():
        freed += sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return freed, removed
