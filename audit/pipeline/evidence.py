"""The evidence log: a JSONL record of a scan written while it runs, and what ``--resume`` reads.

Why a log beside the report: a report exists only when a scan finishes; a scan of millions of
rows can be killed. The log holds a header (configuration and hashes), one record per scored row
(its per-row scores) or skipped row (its reason), and after every batch a checkpoint with the
running counts and a SHA-256 chained over every line so far. A closing digest marks it complete.

Each batch's lines are written and fsynced together, ending with its checkpoint; a scan killed
mid-batch leaves a torn tail after the last checkpoint, which ``--resume`` cuts off. Floats are
written with ``repr`` precision, so resumed per-row scores are bit-identical to the originals and
the resumed report equals an uninterrupted one (timings aside).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from audit.core.errors import UsageError

EVIDENCE_FORMAT = "subaudit-evidence/1"


@dataclass
class ScanProgress:
    """Everything a scan has accumulated; restorable from a log's last checkpoint."""

    rows_read: int = 0
    rows_scored: int = 0
    rows_not_sampled: int = 0
    rows_other_shards: int = 0
    tokens: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)
    scored_ids: list[str] = field(default_factory=list)
    positions: dict[str, Any] | None = None
    """Running per-position sums of the plot data (audit.pipeline.plot_data.PositionAccumulator.state)."""
    skipped_ids: list[str] = field(default_factory=list)
    """Ids of rows that were parsed but not scored (duplicate-id detection must remember them)."""
    top_records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Rows that entered the report's top rows when scored, with their tokens (TopEntry.to_record)."""


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, allow_nan=True, separators=(",", ":")) + "\n"


class EvidenceLog:
    """Append-only writer of the evidence log (new, or continued after :func:`restore`)."""

    def __init__(self, path: Path, handle: TextIO, chain: Any) -> None:
        self.path = path
        self._handle = handle
        self._chain = chain
        self._lines = 0

    @classmethod
    def create(cls, path: Path, header: dict[str, Any]) -> EvidenceLog:
        handle = path.open("w", encoding="utf-8")
        log = cls(path, handle, hashlib.sha256())
        log._write([{"type": "header", "format": EVIDENCE_FORMAT, **header}])
        return log

    def _write(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            line = _line(record)
            self._chain.update(line.encode("utf-8"))
            self._handle.write(line)
            self._lines += 1
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def write_batch(
        self,
        row_ids: list[str],
        columns: dict[str, np.ndarray],
        skipped_rows: list[tuple[str, str]],
        progress: ScanProgress,
        positions: dict[str, Any] | None = None,
        top_records: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """One batch: its row and skip records, then a checkpoint with the running totals.

        A row that entered the report's top rows carries its tokens and per-token LLRs (``top``),
        so a resumed scan ranks it again; rows that never entered cannot be in the final top rows.
        """
        names = list(columns)
        top_records = top_records or {}
        records: list[dict[str, Any]] = [
            {"type": "row", "row_id": row_id, "scores": {n: float(columns[n][i]) for n in names}}
            | ({"top": top_records[row_id]} if row_id in top_records else {})
            for i, row_id in enumerate(row_ids)
        ]
        records += [{"type": "skip", "row_id": row_id, "reason": reason} for row_id, reason in skipped_rows]
        self._write(records)
        self._write([{
            "type": "checkpoint",
            "rows_read": progress.rows_read,
            "rows_scored": progress.rows_scored,
            "rows_not_sampled": progress.rows_not_sampled,
            "rows_other_shards": progress.rows_other_shards,
            "tokens": progress.tokens,
            "skipped": dict(progress.skipped),
            "positions": positions,
            "chain_sha256": self._chain.hexdigest(),
        }])

    def close(self, summary: dict[str, Any]) -> None:
        """Write the closing digest (the log is complete) and close the file."""
        self._write([{"type": "digest", "chain_sha256": self._chain.hexdigest(), **summary}])
        self._handle.close()

    def abandon(self) -> None:
        """Close without a digest (the scan failed); the log stays resumable."""
        self._handle.close()


def restore(path: Path, header: dict[str, Any]) -> tuple[EvidenceLog, ScanProgress]:
    """Read a log up to its last checkpoint, check it belongs to this scan, and reopen it for appending.

    A header that differs from this scan's (another input file, other models or settings) is a
    usage error: resuming would mix two audits.
    """
    if not path.is_file():
        raise UsageError(f"--resume: no evidence log at {path} (start the scan without --resume)")
    progress = ScanProgress()
    chain = hashlib.sha256()
    good_bytes = 0
    pending_rows: list[dict[str, Any]] = []
    pending_skips: list[dict[str, Any]] = []
    stored_header: dict[str, Any] | None = None
    with path.open("rb") as handle:
        offset = 0
        for raw in handle:
            offset += len(raw)
            if not raw.endswith(b"\n"):
                break
            try:
                record = json.loads(raw)
            except json.JSONDecodeError:
                break
            chain.update(raw)
            kind = record.get("type")
            if kind == "header":
                stored_header = record
                good_bytes = offset
            elif kind == "row":
                pending_rows.append(record)
            elif kind == "skip":
                pending_skips.append(record)
            elif kind == "checkpoint":
                _apply(progress, pending_rows, pending_skips, record)
                pending_rows, pending_skips = [], []
                good_bytes = offset
            elif kind == "digest":
                raise UsageError(f"--resume: {path} is a finished scan's log (it has a closing digest)")
    if stored_header is None:
        raise UsageError(f"--resume: {path} is not a subaudit evidence log (no header)")
    expected = {"type": "header", "format": EVIDENCE_FORMAT, **header}
    if json.loads(_line(expected)) != stored_header:
        differing = sorted(k for k in expected.keys() | stored_header.keys() if expected.get(k) != stored_header.get(k))
        raise UsageError(f"--resume: {path} belongs to a different scan (differs in: {', '.join(differing)})")
    # Recompute the chain over the kept prefix only, then cut the torn tail off.
    chain = hashlib.sha256()
    with path.open("rb") as handle:
        chain.update(handle.read(good_bytes))
    with path.open("r+b") as handle:
        handle.truncate(good_bytes)
    log = EvidenceLog(path, path.open("a", encoding="utf-8"), chain)
    return log, progress


def _apply(progress: ScanProgress, rows: list[dict[str, Any]], skips: list[dict[str, Any]],
           checkpoint: dict[str, Any]) -> None:
    if rows:
        names = list(rows[0]["scores"])
        for name in names:
            progress.columns.setdefault(name, []).append(np.array([r["scores"][name] for r in rows]))
        progress.scored_ids += [r["row_id"] for r in rows]
        progress.top_records += [(r["row_id"], r["top"]) for r in rows if "top" in r]
    progress.skipped_ids += [s["row_id"] for s in skips]
    progress.rows_read = int(checkpoint["rows_read"])
    progress.rows_scored = int(checkpoint["rows_scored"])
    progress.rows_not_sampled = int(checkpoint["rows_not_sampled"])
    progress.rows_other_shards = int(checkpoint["rows_other_shards"])
    progress.tokens = int(checkpoint["tokens"])
    progress.skipped = Counter({k: int(v) for k, v in checkpoint["skipped"].items()})
    progress.positions = checkpoint.get("positions")
