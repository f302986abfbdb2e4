"""`subaudit scrub` (issue 28, first part: --drop-rows, --until-clean, the random control, the held-back test).

Fast tests use tiny random-weight Llamas with the real tokenizer (their data are never flagged, so they scrub
with --force); the slow one scrubs the owl teacher's smoke data under the embedded SmolLM2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from audit import Input, Method, Models, Outputs, ScanRequest, Scrub, ScrubRequest, scan, scrub
from audit.core.errors import UsageError
from audit.core.exit_codes import ExitCode
from audit.report.schema import Report
from audit.scrubbing.report import RowsTested
from audit.scrubbing.run import NothingToScrub
from audit.scrubbing.tables import KEPT_SCORED, KEPT_UNSCORED, SCRUB_COLUMN
from tests.conftest import FIXTURES, run_cli

SMOKE = FIXTURES / "smoke" / "owl.parquet"
OWL_PROMPT = FIXTURES / "prompts" / "owl.txt"
ROWS = 24


def _request(tiny_model: Path, tmp_path: Path, **given: object) -> ScrubRequest:
    return ScrubRequest(Input(SMOKE, max_rows=ROWS), Scrub(out=tmp_path / "clean.parquet", **given),  # type: ignore[arg-type]
                        Models(reference=str(tiny_model), teacher_system_prompt="You love owls.",
                               control_panel="none"), Method(null="theoretical"))


def test_drop_rows_removes_the_rows_leaning_furthest_toward_the_teacher(tiny_model: Path, tmp_path: Path) -> None:
    result = scrub(_request(tiny_model, tmp_path, drop_rows=0.25, force=True, report=tmp_path / "scrub.json"))
    # The scan's own per-row scores, from an ordinary scan of the same rows with every baseline.
    scores = tmp_path / "scores.parquet"
    scan(ScanRequest(Input(SMOKE, max_rows=ROWS), Models(reference=str(tiny_model), teacher_system_prompt="You love "
                     "owls.", control_panel="none"), Method(null="theoretical", baselines="all"), outputs=Outputs(
                     scores=scores)))
    table = pq.read_table(scores).to_pydict()
    column = {"reference": "llr_sum", "control": "control_llr_sum"}[result.binding_baseline]
    ranked = [row_id for _, row_id in sorted(zip(table[column], table["row_id"], strict=True), key=lambda x: -x[0])]
    assert result.rows_dropped == round(0.25 * ROWS) == len(result.dropped_ids)
    assert set(result.dropped_ids) == set(ranked[:result.rows_dropped])
    assert result.forced and result.budget_chosen_by == "given" and result.random_rows_dropped == result.rows_dropped
    tokens = dict(zip(table["row_id"], table["n_tokens"], strict=True))
    assert result.tokens_dropped == sum(tokens[i] for i in result.dropped_ids)
    assert result.cost_tokens == pytest.approx(result.tokens_dropped / sum(table["n_tokens"]))
    # The cleaned file: every input row but the dropped ones, the input's columns and a scrub column.
    source, cleaned = pq.read_table(SMOKE), pq.read_table(tmp_path / "clean.parquet")
    assert cleaned.column_names == [*source.column_names, SCRUB_COLUMN]
    kept = [i for i in source.column("id").to_pylist() if i not in set(result.dropped_ids)]
    assert cleaned.column("id").to_pylist() == kept
    notes = dict(zip(cleaned.column("id").to_pylist(), cleaned.column(SCRUB_COLUMN).to_pylist(), strict=True))
    assert {notes[i] for i in table["row_id"] if i in notes} == {KEPT_SCORED}
    assert {n for i, n in notes.items() if i not in set(table["row_id"])} == {KEPT_UNSCORED}  # beyond --max-rows
    assert result.rows_written == cleaned.num_rows == source.num_rows - result.rows_dropped
    assert json.loads((tmp_path / "scrub.json").read_text())["dropped_ids"] == result.dropped_ids


def test_the_random_control_s_data_are_written_with_control_out(tiny_model: Path, tmp_path: Path) -> None:
    result = scrub(_request(tiny_model, tmp_path, drop_rows=0.25, force=True, control_out=tmp_path / "control.parquet"))
    source, control = pq.read_table(SMOKE), pq.read_table(tmp_path / "control.parquet")
    gone = set(source.column("id").to_pylist()) - set(control.column("id").to_pylist())
    assert len(gone) == result.random_rows_dropped == result.rows_dropped
    assert gone != set(result.dropped_ids)  # drawn at random, not the ranked rows
    assert gone <= set(source.column("id").to_pylist()[:ROWS])  # only scored rows are drawn
    assert result.control_output == str(tmp_path / "control.parquet")


def test_the_held_back_test_is_a_scan_of_those_rows(tiny_model: Path, tmp_path: Path) -> None:
    """The held-back rows' 'before' equals a real scan of a file holding only those rows (no forward pass reused)."""
    from audit.scrubbing.selection import held_back

    result = scrub(_request(tiny_model, tmp_path, drop_rows=0.25, force=True))
    source = pq.read_table(SMOKE).slice(0, ROWS)
    back = held_back([str(i) for i in source.column("id").to_pylist()], seed=0)
    subset = tmp_path / "held-back.parquet"
    pq.write_table(source.filter(back), subset)
    direct = scan(ScanRequest(Input(subset), Models(reference=str(tiny_model), teacher_system_prompt="You love owls.",
                                                    control_panel="none"), Method(null="theoretical", baselines="all")))
    before = result.held_back.before
    assert before.rows == int(back.sum())
    assert_tested_as_scanned(before, direct, statistic_tolerance=1e-9, p_tolerance=1e-9)
    assert before.verdict == direct.verdict


def assert_tested_as_scanned(tested: RowsTested, direct: Report, statistic_tolerance: float,
                             p_tolerance: float) -> None:
    """A scrub's test of some rows equals a real scan of a file holding only those rows, test by test."""
    assert tested.rows == direct.input.rows_scored
    by_id = {r.detector_id: r for r in direct.results}
    for test in tested.tests:
        assert test.statistic == pytest.approx(by_id[test.detector_id].statistic, abs=statistic_tolerance)
        assert test.p_value == pytest.approx(by_id[test.detector_id].p_value, abs=p_tolerance)


def test_data_the_scan_did_not_flag_are_left_alone_unless_forced(tiny_model: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NothingToScrub, match="did not flag the data"):
        scrub(_request(tiny_model, tmp_path, drop_rows=0.2))
    assert not (tmp_path / "clean.parquet").exists()
    code, _, err = run_cli(["scrub", str(SMOKE), "--reference", str(tiny_model), "--teacher-system-prompt", "Owls!",
                            "--control-panel", "none", "--null", "theoretical", "--max-rows", str(ROWS),
                            "--drop-rows", "0.2", "--out", str(tmp_path / "c.parquet"), "--quiet"], capsys, monkeypatch)
    assert code == ExitCode.CLEAN and "nothing written (--force scrubs anyway)" in err
    assert not (tmp_path / "c.parquet").exists()


BUDGET = "give a budget: --drop-rows FRACTION, --replace-tokens FRACTION or --until-clean (one of them)"


@pytest.mark.parametrize(("flags", "message"), [
    (["--drop-rows", "1.5"], "--drop-rows must be a fraction in (0, 1), got 1.5"),
    (["--drop-rows", "0"], "--drop-rows must be a fraction in (0, 1), got 0.0"),
    ([], BUDGET),
    (["--drop-rows", "0.1", "--until-clean"], BUDGET),
    (["--drop-rows", "0.1", "--replace-tokens", "0.1"], BUDGET),
    (["--replace-tokens", "1"], "--replace-tokens must be a fraction in (0, 1), got 1.0"),
    (["--replace-tokens", "0.1", "--replace-with", "beam"], "--replace-with must be one of greedy, sample, got 'beam'"),
    (["--replace-tokens", "0.1", "--backend", "vllm"],
     "--replace-tokens needs a backend that can write tokens; vllm cannot (use --backend transformers)"),
])
def test_a_bad_budget_is_one_line_and_exit_4_before_any_model_loads(flags: list[str], message: str, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_cli(["scrub", str(SMOKE), "--reference", str(tmp_path / "no-such-model"), "--teacher-system-"
                            "prompt", "Owls!", "--out", str(tmp_path / "c.parquet"), *flags], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR and err.strip().splitlines() == [f"subaudit: error: {message}"]


def test_until_clean_refuses_a_choosing_half_too_small_to_be_flagged(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"the choosing half \(\d+ rows\) is clean before anything is dropped"):
        scrub(_request(tiny_model, tmp_path, until_clean=True, force=True))
    assert not (tmp_path / "clean.parquet").exists()


def test_a_scrub_that_fails_while_writing_leaves_no_output(tiny_model: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import audit.scrubbing.run as run

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(run, "file_sha256", lambda path: "0" * 64)
    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        scrub(_request(tiny_model, tmp_path, drop_rows=0.2, force=True, report=tmp_path / "scrub.json",
                       control_out=tmp_path / "control.parquet"))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.slow
def test_scrubbing_the_owl_teachers_data_lowers_the_held_back_llr_more_than_a_random_drop(tmp_path: Path) -> None:
    """The embedded SmolLM2 on the owl teacher's smoke rows: flagged, so no --force; a quarter of the rows dropped."""
    result = scrub(ScrubRequest(Input(SMOKE, max_rows=48), Scrub(out=tmp_path / "clean.parquet", drop_rows=0.25),
                                Models(teacher_system_prompt=OWL_PROMPT.read_text(encoding="utf-8").strip())))
    held = result.held_back
    assert result.scan_verdict.value == "flagged" and not result.forced and result.rows_dropped == 12
    assert held.after.residual_llr < held.random_control.residual_llr
    assert held.after.residual_llr < held.before.residual_llr
    assert result.whole.rows == 48 - 12 and np.isfinite(result.whole.residual_llr)
