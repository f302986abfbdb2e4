"""SHA-256 of a file's bytes: the identity of data, weights, adapters and tokenizers in every report and cache key.

In audit.core, not the dataset reader where it began: model identities (audit.models) and caches hash files
too, and none of them reads datasets.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks so large datasets don't load into memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
