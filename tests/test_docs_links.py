"""Every relative link in the README and the docs pages points at a file (and heading) that exists.

`make docs` (mkdocs --strict, in CI) checks the pages inside docs/; the README sits outside the
site, so its links into docs/ are checked here, with the pages' own links as a second net.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(page: Path) -> set[str]:
    """Heading ids as Python-Markdown's toc extension makes them (mkdocs' default)."""
    slugs = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            text = re.sub(r"[^\w\s-]", "", text)
            slugs.add(re.sub(r"[-\s]+", "-", text).strip("-"))
    return slugs


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # code blocks hold no links
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _links(page):
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.name}: broken links: {broken}"


def test_the_readme_links_every_docs_page_and_stays_short() -> None:
    linked = {Path(t.partition("#")[0]).name for t in _links(ROOT / "README.md")}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert pages <= linked, f"docs pages the README does not index: {sorted(pages - linked)}"
    assert len((ROOT / "README.md").read_bytes()) <= 10_500


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](page.md#title) [gone](missing.md) [bad](page.md#nowhere)\n")
    assert _links(page) == ["page.md#title", "missing.md", "page.md#nowhere"]
    assert "title" in _anchors(page) and "nowhere" not in _anchors(page)
