"""Duplicate-id detection stays exact across the merge of recent digests into the sorted array."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import audit.input.seen_ids as seen_ids
from audit.input.seen_ids import SeenIds


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=6), max_size=300))
def test_first_time_matches_a_python_set(ids: list[str]) -> None:
    seen = SeenIds()
    reference: set[str] = set()
    for row_id in ids:
        assert seen.first_time(row_id) == (row_id not in reference)
        reference.add(row_id)
    assert len(seen) == len(reference)


def test_duplicates_are_found_after_a_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seen_ids, "_MERGE_EVERY", 8)
    seen = SeenIds()
    first = seen.new_only([f"row-{i}" for i in range(50)])
    assert all(first) and len(seen) == 50
    assert seen._sorted.size >= 48  # the merge actually happened
    again = seen.new_only(["row-3", "row-49", "new", "row-0", "new"])
    assert again == [False, False, True, False, False]
