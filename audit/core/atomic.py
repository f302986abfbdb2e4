"""Atomic file output: write to a temporary file beside the target, then rename.

A crash or a kill mid-write leaves the old file (or none), never a half report that looks whole.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from audit.core.errors import UsageError


def check_writable(path: Path) -> None:
    """Fail early, before any scoring, when an output path cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"output path is a directory: {path}")
    if not parent.is_dir():
        raise UsageError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"output folder is not writable: {parent}")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path; on normal exit it replaces ``path``, on error it is removed."""
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write a whole text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
