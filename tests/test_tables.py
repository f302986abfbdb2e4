"""Tables of measured figures in README.md are written by make targets, never by hand (issue 30, item 2).

The smoke table is rendered from the plain command's committed reports (experiments/smoke_table.py, `make
smoke-table`): the README must hold exactly what those reports give.
"""

from __future__ import annotations

from experiments.smoke_table import README, block_in, load_reports, render


def test_the_readme_smoke_table_is_the_one_its_reports_give() -> None:
    written = block_in(README.read_text(encoding="utf-8"))
    assert written, "README.md lost the smoke table's markers"
    assert written == render(load_reports()), "README.md's smoke table differs from `make smoke-table`'s"
