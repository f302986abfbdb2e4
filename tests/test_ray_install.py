"""The `ray` extra installs what Ray Data's path resolution imports.

Ray Data imports fsspec's HTTP filesystem while resolving every path, local ones included. That
module needs aiohttp; without it, Ray's threads race on the failing import and some of them see
"cannot import name 'HTTPFileSystem'", which aborted `scan --engine ray` on a fresh CI machine.
"""

from __future__ import annotations

import importlib.util

import pytest


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the ray extra is not installed")
def test_ray_extra_makes_fsspec_http_importable() -> None:
    from fsspec.implementations.http import HTTPFileSystem

    assert HTTPFileSystem.protocol == ("http", "https")
