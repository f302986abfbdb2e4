"""Tables of measured figures in README.md and docs/ are written by make targets, never by hand (issue 30, item 2).

Each table sits between markers and is rendered from a committed source by experiments/doc_tables.py
(`make tables`): the smoke table from the plain command's reports, the Ray table from
benchmarks/RESULTS-ray.md, the transfer tables from fixtures/TRANSFER.md and the weight teacher's scan
summary. These tests render every block again and fail when a page differs, and fail on a table row
outside the blocks that holds a figure of measured precision.
"""

from __future__ import annotations

from experiments.doc_tables import PAGES, ROOT, TABLES, blocks_in, hand_tables, stale_blocks


def test_every_generated_table_is_the_one_its_source_gives() -> None:
    assert not stale_blocks(), f"tables differ from `make tables`'s: {stale_blocks()}"


def test_every_table_of_measured_figures_is_generated() -> None:
    assert not hand_tables(), f"table rows with measured figures outside a generated block: {hand_tables()}"


def test_every_registered_table_is_on_some_page_and_the_checks_can_fail() -> None:
    texts = {page: page.read_text(encoding="utf-8") for page in PAGES}
    for table in TABLES:
        assert any(blocks_in(text, table) for text in texts.values()), f"table {table.name} is on no page"
    readme = texts[ROOT / "README.md"]
    smoke = next(t for t in TABLES if t.name == "smoke")
    block = blocks_in(readme, smoke)[0]
    edited = block.replace("+0.0460", "+0.0461")
    assert edited != block and edited != smoke.block(), "a hand edit of a figure must make the block stale"
    assert hand_tables_in("| owl | +0.0460 nats/token | 81.5 s |") and not hand_tables_in("| flagged | p < 0.01 |")


def hand_tables_in(row: str) -> bool:
    from experiments.doc_tables import MEASURED

    return MEASURED.search(row) is not None
