"""The report's rows carrying the most evidence: the right rows, the right per-token values, rendered."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from audit.core.rows import AuditRow, EncodedRow, Message, ScoredRow
from audit.pipeline.top_rows import TopEntry, TopRowsTracker, merge_top_rows
from audit.report.formats import render_markdown
from audit.report.html import render_html
from audit.report.schema import Report
from tests.test_render_formats import saved_report

__all__ = ["saved_report"]  # the module fixture: a real scan's report, shared with test_render_formats


class _Tokens:
    """Decodes id n to the text 't<n> '."""

    def decode(self, ids: list[int]) -> str:
        return "".join(f"t{i} " for i in ids)


def _scored(row_id: str, teacher: list[float], reference: list[float]) -> ScoredRow:
    row = AuditRow(row_id, (Message("user", "q"),), "c")
    encoded = EncodedRow(row, tuple(range(len(teacher))), ((1,), (1,)))
    return ScoredRow(encoded, (np.array(reference), np.array(teacher)))


def test_keeps_the_rows_with_the_largest_llr_sums_in_order() -> None:
    rng = random.Random(3)
    rows = []
    for i in range(57):
        n = rng.randint(1, 9)
        rows.append(_scored(f"r{i}", [rng.gauss(0, 1) for _ in range(n)], [rng.gauss(0, 1) for _ in range(n)]))
    tracker = TopRowsTracker(teacher_index=1, baseline_index=0, baseline="reference", k=10)
    for start in range(0, len(rows), 8):  # batches, as a scan feeds it
        tracker.add(rows[start:start + 8])
    top = tracker.result(_Tokens())
    expected = sorted(rows, key=lambda r: float((r.logprobs[1] - r.logprobs[0]).sum()), reverse=True)[:10]
    assert [r.row_id for r in top.rows] == [r.encoded.row.row_id for r in expected]
    for shown, row in zip(top.rows, expected, strict=True):
        assert shown.token_llr == list(row.logprobs[1] - row.logprobs[0])
        assert abs(shown.llr_sum - sum(shown.token_llr)) < 1e-9
        assert shown.tokens == [f"t{i} " for i in row.encoded.completion_ids]


def _random_rows(seed: int, count: int) -> list[ScoredRow]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        n = rng.randint(1, 9)
        rows.append(_scored(f"r{i}", [rng.gauss(0, 1) for _ in range(n)], [rng.gauss(0, 1) for _ in range(n)]))
    return rows


def test_the_kept_rows_do_not_depend_on_the_order_rows_arrive_in() -> None:
    rows = _random_rows(5, 80)
    rows.append(_scored("tie-b", [30.0], [0.0]))
    rows.append(_scored("tie-a", [30.0], [0.0]))  # an exact tie: the smaller id ranks first
    ranked = []
    for seed in range(4):
        shuffled = list(rows)
        random.Random(seed).shuffle(shuffled)
        tracker = TopRowsTracker(1, 0, "reference", k=10)
        for start in range(0, len(shuffled), 7):
            tracker.add(shuffled[start:start + 7])
        ranked.append([(r.row_id, r.llr_sum) for r in tracker.result(_Tokens()).rows])
    assert all(order == ranked[0] for order in ranked)
    assert [row_id for row_id, _ in ranked[0][:2]] == ["tie-a", "tie-b"]


def test_replaying_the_rows_that_entered_restores_the_same_top_rows() -> None:
    """What a resumed scan does: rank again only the rows the evidence log stored with tokens."""
    rows = _random_rows(9, 120)
    full = TopRowsTracker(1, 0, "reference", k=10)
    first = TopRowsTracker(1, 0, "reference", k=10)
    logged: list[tuple[str, dict[str, object]]] = []
    for start in range(0, 64, 8):  # the killed scan's first 8 batches
        full.add(rows[start:start + 8])
        logged += [(e.row_id, e.to_record()) for e in first.add(rows[start:start + 8])]
    assert 10 <= len(logged) < 64  # every row that ever entered, not every row
    resumed = TopRowsTracker(1, 0, "reference", k=10)
    resumed.add_entries(TopEntry.from_record(row_id, record) for row_id, record in logged)
    for start in range(64, len(rows), 8):
        full.add(rows[start:start + 8])
        resumed.add(rows[start:start + 8])
    assert resumed.result(_Tokens()) == full.result(_Tokens())


def test_merging_shards_top_rows_equals_ranking_all_rows() -> None:
    rows = _random_rows(11, 90)
    whole = TopRowsTracker(1, 0, "reference", k=10)
    whole.add(rows)
    shards = [TopRowsTracker(1, 0, "reference", k=10) for _ in range(3)]
    for i, row in enumerate(rows):
        shards[i % 3].add([row])
    assert merge_top_rows([s.result(_Tokens()) for s in shards]) == whole.result(_Tokens())
    assert merge_top_rows([shards[0].result(_Tokens()), None]) is None


def test_fewer_rows_than_k_are_all_kept() -> None:
    tracker = TopRowsTracker(1, 0, "reference", k=10)
    tracker.add([_scored("a", [-1.0], [0.0]), _scored("b", [2.0], [0.0])])
    assert [r.row_id for r in tracker.result(_Tokens()).rows] == ["b", "a"]


def test_a_real_scan_reports_its_top_rows_consistently_with_its_scores(saved_report: Path) -> None:
    report = Report.model_validate_json(saved_report.read_text())
    assert report.top_rows is not None and report.top_rows.scope == "every scored row"
    scores = pq.read_table(saved_report.parent / "scores.parquet").to_pydict()
    by_llr = sorted(zip(scores["llr_sum"], scores["row_id"], strict=True), key=lambda x: -x[0])
    assert [r.row_id for r in report.top_rows.rows] == [row_id for _, row_id in by_llr[:10]]
    for row in report.top_rows.rows:
        assert abs(sum(row.token_llr) - row.llr_sum) < 1e-6
        assert abs(row.llr_sum - scores["llr_sum"][scores["row_id"].index(row.row_id)]) < 1e-6
        assert len(row.tokens) == len(row.token_llr) >= 1


def test_markdown_and_html_colour_every_token(saved_report: Path) -> None:
    tracker = TopRowsTracker(1, 0, "reference", k=3)
    tracker.add([_scored("a", [0.9, -0.4, 0.0], [0.0, 0.0, 0.0]), _scored("b<x>", [0.1], [0.3])])
    report = Report.model_validate_json(saved_report.read_text())
    report.top_rows = tracker.result(_Tokens())
    markdown = render_markdown(report)
    assert "## Rows carrying the most evidence" in markdown
    assert markdown.count("<pre>") == 2 and markdown.count('title="') == 4
    assert 'background:rgba(214,39,40,1.00)" title="+0.900 nats"' in markdown  # the largest sets the scale
    assert 'background:rgba(31,119,180,0.44)" title="-0.400 nats"' in markdown
    html = render_html(report)
    assert html.count('<pre class="tokens">') == 2 and "<code>b&lt;x&gt;</code>" in html
