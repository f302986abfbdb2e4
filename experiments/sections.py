"""Generated blocks inside a results file that another target writes whole.

``experiments/DEFAULTS.md`` is written by ``make defaults``; ``make heldout`` owns one block of it (the
choose and held-out lists). A block sits between ``<!-- subaudit:NAME:start -->`` and
``<!-- subaudit:NAME:end -->``; the target that owns it replaces it, and a target that rewrites the
whole file carries every block over (:func:`carry_blocks`), so neither drops the other's figures.
"""

from __future__ import annotations

import re


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- subaudit:{name}:start -->", f"<!-- subaudit:{name}:end -->"


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with block ``name`` holding ``body`` (appended at the end when the file has none yet)."""
    start, end = _markers(name)
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip() + "\n\n" + block + "\n"


def blocks(text: str) -> dict[str, str]:
    """Every generated block of ``text``: name -> body."""
    found = re.finditer(r"<!-- subaudit:([\w-]+):start -->\n(.*?)\n<!-- subaudit:\1:end -->", text, re.DOTALL)
    return {m.group(1): m.group(2) for m in found}


def carry_blocks(old: str, new: str) -> str:
    """``new`` (a whole file just generated) with the blocks of ``old`` it does not write itself."""
    for name, body in blocks(old).items():
        if name not in blocks(new):
            new = replace_block(new, name, body)
    return new
