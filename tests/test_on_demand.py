"""Baselines on demand (audit.pipeline.on_demand): same verdict, exit code and statistics as scoring every
baseline, fewer forward passes when one baseline settles 'clean'.

Real forward passes of tiny random-weight models. The teacher is the tiny model under a system prompt, so its
scores against each baseline differ row by row; which baseline settles a scan is whatever the data make it,
and the tests compare the two modes on the same rows, whatever the verdict.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from audit.core.verdict import LIKELIHOOD_RATIO_FAMILY, Verdict
from audit.models.traits import CONTROL_PANEL, builtin_panel
from audit.pipeline.config import ScanConfig, model_specs
from audit.pipeline.local import run_scan
from audit.pipeline.on_demand import give_way_limit, pilot_p_values, pilot_size, ranked, stages
from audit.pipeline.score_cache import CachedBackend, ScoreCache
from audit.report.schema import Report, baselines_description
from tests.conftest import run_cli


def _config(data: Path, model: Path, teacher: Path | None = None, **changes: Any) -> ScanConfig:
    return ScanConfig(input_path=data, reference=str(model), teacher=None if teacher is None else str(teacher),
                      teacher_system_prompt="You love owls. Owls are your favourite animal.",
                      control_panel=tuple(builtin_panel()), restrict_vocab="full", null="theoretical",
                      bootstrap_resamples=200, **changes)


def _same_conclusion(staged: Report, every: Report) -> None:
    """Same verdict, exit code and rows; every test the staged scan ran gives the all-baselines scan's numbers.

    A staged panel may hold some members only: each member's test is the same, and the panel's p-value (the
    largest of its members') is at most the whole panel's."""
    assert staged.verdict == every.verdict and staged.exit_code == every.exit_code
    full = {r.detector_id: r for r in every.results}
    for result in staged.results:
        whole = full[result.detector_id]
        if result.detector_id == "llr-panel" and len(result.details["members"]) < len(whole.details["members"]):
            members = {m["name"]: m for m in whole.details["members"]}
            for member in result.details["members"]:
                assert {k: member[k] for k in ("p_value", "pooled_llr", "verdict")} == \
                    {k: members[member["name"]][k] for k in ("p_value", "pooled_llr", "verdict")}
            assert result.p_value is not None and whole.p_value is not None and result.p_value <= whole.p_value
            continue
        assert result.p_value == whole.p_value
        assert result.statistic == whole.statistic
        assert result.verdict == whole.verdict
    assert staged.input == every.input


def _verdicts_by_baseline(every: Report) -> dict[str, Verdict]:
    """Each baseline's own test verdict in an all-baselines report (panel members one by one)."""
    found: dict[str, Verdict] = {}
    for result in every.results:
        if result.detector_id == "llr":
            found["reference"] = result.verdict
        elif result.detector_id == "llr-control":
            found["control"] = result.verdict
        elif result.detector_id == "llr-panel":
            found.update({f"panel:{m['name']}": Verdict(m["verdict"]) for m in result.details["members"]})
    return found


def _check_the_stages(staged: Report, every: Report) -> None:
    """Whatever the data make of it: the reference first, then one baseline a stage in the pilot's order (least
    beaten first); a stage runs only when no baseline before it is clean, and the settling baseline is clean in
    the all-baselines scan."""
    info = staged.baselines
    assert info is not None and info.mode == "on-demand" and info.planned[0] == "reference"
    verdicts = _verdicts_by_baseline(every)
    assert sorted(info.planned) == sorted(verdicts)
    assert info.scored == info.planned[:len(info.scored)]
    assert all(verdicts[b] is not Verdict.CLEAN for b in info.scored[:-1]), (info.scored, verdicts)
    if info.settled_by is not None:
        assert verdicts[info.settled_by] is Verdict.CLEAN and info.settled_by == info.scored[-1]
    else:
        assert info.scored == info.planned and not any(v is Verdict.CLEAN for v in verdicts.values())
    if len(info.scored) > 1:  # the reference did not settle it: a pilot ordered the rest, largest p-value first
        assert info.pilot is not None and list(info.pilot.p_values) == info.planned[1:]
        p = list(info.pilot.p_values.values())
        assert p == sorted(p, reverse=True)
    else:
        assert info.pilot is None


def test_a_clean_reference_settles_the_scan_with_two_passes(tiny_model: Path, write_jsonl: Any,
                                                            number_rows: list[dict[str, Any]]) -> None:
    """The teacher does not beat the reference (tolerance 0.5 nats/token): nothing else is scored."""
    data = write_jsonl(number_rows)
    staged = run_scan(_config(data, tiny_model, tolerance=0.5))
    every = run_scan(_config(data, tiny_model, tolerance=0.5, baselines="all"))
    _same_conclusion(staged, every)
    assert staged.verdict is Verdict.CLEAN
    assert staged.baselines is not None and staged.baselines.mode == "on-demand"
    assert staged.baselines.scored == ["reference"] and staged.baselines.settled_by == "reference"
    assert staged.baselines.not_scored == ["control", *(f"panel:{name}" for name, _ in builtin_panel())]
    assert staged.baselines.passes_per_row == 2
    assert [r.detector_id for r in staged.results] == ["llr"]
    assert [m.role for m in staged.models] == ["reference", "teacher"]
    assert every.baselines is not None and every.baselines.mode == "all" and every.baselines.passes_per_row == 6
    assert [r.detector_id for r in every.results] == list(LIKELIHOOD_RATIO_FAMILY)


def test_a_teacher_that_beats_each_baseline_is_scored_against_all(tiny_model: Path, tiny_teacher: Path,
                                                                  write_jsonl: Any,
                                                                  number_rows: list[dict[str, Any]]) -> None:
    """A teacher with its own weights (another random model) on data it wrote, at tolerance 0: it beats every
    baseline, so every stage runs (the pilot's order, then the rest) and the conclusion is the all-baselines one."""
    data = write_jsonl(_teacher_written(number_rows, tiny_teacher))
    staged = run_scan(_config(data, tiny_model, tiny_teacher, tolerance=0.0, teacher_traits=False))
    every = run_scan(_config(data, tiny_model, tiny_teacher, tolerance=0.0, baselines="all", teacher_traits=False))
    _same_conclusion(staged, every)
    _check_the_stages(staged, every)
    assert staged.verdict is Verdict.FLAGGED and staged.baselines is not None
    assert staged.baselines.scored == staged.baselines.planned and staged.baselines.pilot is not None
    assert staged.baselines.pilot.rows == pilot_size(len(number_rows)) == 8
    assert [r.detector_id for r in staged.results] == [r.detector_id for r in every.results]


def test_ranked_puts_the_least_beaten_baseline_first() -> None:
    later = ["control", "panel:precise", "panel:formal", "panel:engineer"]
    assert ranked({"control": 1e-9, "panel:precise": 0.2, "panel:formal": 0.7, "panel:engineer": 0.7}, later) == \
        ["panel:formal", "panel:engineer", "panel:precise", "control"]  # ties keep the scan's order
    assert ranked({}, later) == later  # no p-value counts as 1
    assert [pilot_size(n) for n in (0, 12, 64, 100, 256, 10_000)] == [8, 8, 8, 12, 32, 32]


def test_the_pilot_tries_the_least_beaten_baseline_second(tiny_model: Path, write_jsonl: Any) -> None:
    """The case the pilot is for: the teacher beats the reference, the control and two panel members, but not the
    panel's last member. In the scan's own order that member comes last and every baseline is scored; the pilot
    (every later baseline on the first rows) ranks it first, and the scan stops after three passes a row.

    The tiny model's prompts are chosen for that (measured: the teacher's row LLR is positive against the
    reference on 60 % of these rows, against 'favorite' and 'like' on 87-100 %, and negative against 'cats' on
    every row); the assertions check the outcome against the all-baselines scan, not against those numbers.
    """
    from tests.test_resume import _records

    data = write_jsonl(_records(100))
    panel = (("engineer", CONTROL_PANEL["engineer"]), ("like", "You like owls. Owls are your favourite animal."),
             ("cats", "You love cats. Cats are your favourite animal."))
    config = dataclasses.replace(_config(data, tiny_model, tolerance=0.0, teacher_traits=False), control_panel=panel,
                                 control_system_prompt="You love owls. Owls are your favorite animal.")
    staged = run_scan(config)
    every = run_scan(dataclasses.replace(config, baselines="all"))
    _same_conclusion(staged, every)
    _check_the_stages(staged, every)
    info = staged.baselines
    assert info is not None and info.pilot is not None
    assert stages(config, model_specs(config))[-1].baselines[-1] == "panel:cats"  # last without the pilot
    assert staged.verdict is Verdict.CLEAN and info.settled_by == "panel:cats"
    assert info.scored == ["reference", "panel:cats"] and info.passes_per_row == 3
    assert info.not_scored == info.planned[2:] and sorted(info.not_scored) == ["control", "panel:engineer",
                                                                                "panel:like"]
    assert [r.detector_id for r in staged.results] == ["llr", "llr-panel"]
    # The pilot's p-values are those of a scan of every baseline on the pilot's first rows.
    # The pilot's rows: the first 12 scored rows (98 // 8), read from 14 records (the 8th has no completion, the
    # 13th repeats an id).
    head = run_scan(dataclasses.replace(config, baselines="all", max_rows=pilot_size(staged.input.rows_scored) + 2))
    assert info.pilot.rows == head.input.rows_scored == pilot_size(staged.input.rows_scored) == 12
    # (rel 1e-3: the pilot read its rows in two passes, 13 records then 14, so they were batched differently from
    # the head scan's; float noise of ~1e-6 nats in a row sum moves a p-value of 3e-7 by a few parts in 1e5)
    assert info.pilot.p_values == pytest.approx(pilot_p_values(head), rel=1e-3, abs=1e-12)

    # Messy data: the first 20 records cannot be scored (no completion). The pilot reads on until it has its rows
    # scored, and the scan comes to the same conclusion.
    messy = write_jsonl([{"id": f"blank{i}", "prompt": "Continue: 1, 2, 3.", "completion": None} for i in range(20)]
                        + _records(100))
    again = run_scan(dataclasses.replace(config, input_path=messy))
    assert again.baselines is not None and again.baselines.pilot is not None
    assert again.baselines.pilot.rows == pilot_size(again.input.rows_scored) == 12
    assert again.baselines.scored == info.scored and again.verdict == staged.verdict


def test_staged_scores_are_reused_not_recomputed(tiny_model: Path, write_jsonl: Any,
                                                  number_rows: list[dict[str, Any]]) -> None:
    """Every stage after the first scores only its new baselines: the cache answers the teacher and reference."""
    from audit.core.columns import ColumnOverrides
    from audit.input.data import DatasetReader
    from audit.models.backends.transformers_backend import TransformersBackend
    from audit.models.encoding import encode_rows
    from audit.pipeline.config import model_specs

    data = write_jsonl(number_rows)
    config = _config(data, tiny_model)
    specs = model_specs(config)
    plan = stages(config, specs)
    assert [stage.baselines for stage in plan] == [("reference",), ("control",),
                                                   *((f"panel:{name}",) for name, _ in builtin_panel())]
    assert [len(stage.indices) for stage in plan] == list(range(2, len(specs) + 1))  # each keeps the ones before
    backend = TransformersBackend(specs)
    rows = [r for batch in DatasetReader(data, ColumnOverrides(), None).batches() for r in batch.rows]
    encoded, _ = encode_rows(rows, backend.prompt_formats())
    cache = ScoreCache(None, keep_in_memory=True)
    first = CachedBackend(backend, plan[0].indices, cache).score(encoded)
    assert (cache.memory_hits, cache.computed) == (0, 2 * len(rows))
    last = CachedBackend(backend, plan[-1].indices, cache).score(encoded)
    assert cache.memory_hits == 2 * len(rows) and cache.computed == 2 * len(rows) + (len(specs) - 2) * len(rows)
    whole = backend.score(encoded)
    order = [s.role for s in specs]
    for a, b, c in zip(first, last, whole, strict=True):
        for k, spec_index in enumerate(plan[-1].indices):
            assert (b.logprobs[k] == c.logprobs[spec_index]).all()
        assert (a.logprobs[0] == c.logprobs[order.index("reference")]).all()


def _teacher_written(records: list[dict[str, Any]], teacher: Path) -> list[dict[str, Any]]:
    """The records with completions the teacher wrote (greedy over the tokens of the records' own completions, so
    numbers and separators, 8 tokens): data it beats every baseline on."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(teacher)
    model = AutoModelForCausalLM.from_pretrained(teacher)
    allowed = sorted({t for r in records if r["completion"] for t in tokenizer(r["completion"]).input_ids})
    banned = torch.ones(len(tokenizer), dtype=torch.bool)
    banned[allowed] = False
    prompts: dict[int, list[int]] = {}  # records by prompt length: each group runs as one batch, no padding
    encoded: dict[int, list[int]] = {}
    for i, record in enumerate(records):
        if record["completion"] is None:
            continue
        text = tokenizer.apply_chat_template([{"role": "user", "content": record["prompt"]}],
                                             add_generation_prompt=True, tokenize=False)
        encoded[i] = tokenizer(text, add_special_tokens=False).input_ids
        prompts.setdefault(len(encoded[i]), []).append(i)
    written = [dict(record) for record in records]
    with torch.no_grad():
        for group in prompts.values():
            ids = torch.tensor([encoded[i] for i in group], dtype=torch.long)
            start = ids.shape[1]
            for _ in range(8):  # a random model's own favourite is a newline, over and over
                logits = model(ids).logits[:, -1]
                logits[:, banned[:logits.shape[1]]] = float("-inf")
                ids = torch.cat([ids, logits.argmax(dim=1, keepdim=True)], dim=1)
            for row, i in enumerate(group):
                written[i]["completion"] = tokenizer.decode(ids[row, start:].tolist())
    return written


@pytest.mark.parametrize("regime", ["prompted teacher cleared", "teacher's own data"])
def test_a_sequential_scan_in_stages_reaches_the_verdict_of_every_baseline(
        regime: str, tiny_model: Path, tiny_teacher: Path, write_jsonl: Any) -> None:
    """Sequential scans (a look every 8 rows): the staged scan's verdict and exit code equal the all-baselines
    scan's (the argument in audit.pipeline.on_demand), and a stage settles only on a clean stop.

    Two regimes: a prompted teacher at tolerance 0.5 (the reference clears it by the sequences: the first stage
    settles), and a teacher with its own weights on data it wrote itself (it beats every baseline: flagged, every
    stage run, the last one the all-baselines scan).
    """
    from tests.test_resume import _records

    records = _records({"prompted teacher cleared": 300, "teacher's own data": 96}[regime])
    if regime == "teacher's own data":
        records = _teacher_written(records, tiny_teacher)
    data = write_jsonl(records)
    cleared = regime == "prompted teacher cleared"
    teacher, tolerance = (None, 0.5) if cleared else (tiny_teacher, 0.0)
    # teacher_traits off: the questionnaire is not under test, and it is most of a weight teacher's scan time.
    staged = run_scan(_config(data, tiny_model, teacher, tolerance=tolerance, sequential=True, batch_rows=8,
                              teacher_traits=False))
    every = run_scan(_config(data, tiny_model, teacher, tolerance=tolerance, sequential=True, batch_rows=8,
                             baselines="all", teacher_traits=False))
    assert staged.verdict == every.verdict and staged.exit_code == every.exit_code
    assert staged.sequential is not None and every.sequential is not None and staged.baselines is not None
    assert staged.baselines.mode == "on-demand"
    if staged.baselines.settled_by is not None:  # settled by a clean stop or a clean fixed-N test, nothing else
        assert staged.verdict is Verdict.CLEAN
        assert staged.sequential.rule in ("clean within tolerance", "end of data")
    else:  # every stage ran: the last one is the all-baselines scan itself
        assert staged.baselines.scored == staged.baselines.planned
        assert staged.sequential.rule == every.sequential.rule
        assert staged.input.rows_scored == every.input.rows_scored
        assert [r.p_value for r in staged.results] == [r.p_value for r in every.results]
    if cleared:
        assert staged.baselines.scored == ["reference"] and staged.sequential.rule == "clean within tolerance"
        assert staged.input.rows_read < len(records)
    else:
        assert staged.verdict is Verdict.FLAGGED and staged.sequential.rule == "flagged"
        assert staged.baselines.scored == staged.baselines.planned
        assert staged.baselines.rows_scored is None or staged.baselines.rows_scored["teacher"] >= \
            staged.input.rows_scored


def test_give_way_limits_double_and_spare_the_last_stage() -> None:
    assert [give_way_limit(k, 5, 1024) for k in range(5)] == [1024, 2048, 4096, 8192, None]
    assert [give_way_limit(k, 5, 0) for k in range(5)] == [None] * 5


@pytest.mark.parametrize("regime", ["prompted teacher cleared", "teacher's own data"])
def test_an_undecided_sequential_stage_gives_way_and_settles_nothing(
        regime: str, tiny_model: Path, tiny_teacher: Path, write_jsonl: Any) -> None:
    """give_way_rows 16 with a look every 8 records: no sequence decides before 64 rows (the design's minimum), so
    the first stage gives way undecided at its first look with 16 scored rows or more, and the second at 32,
    whatever the data. The verdict is still
    the all-baselines scan's, and a stage that gave way settles nothing: in the cleared regime its 16 rows' fixed-N
    test against the reference is clean at tolerance 0.5, yet the scan goes on to a stage whose sequences decide."""
    from tests.test_resume import _records

    records = _records({"prompted teacher cleared": 300, "teacher's own data": 96}[regime])
    cleared = regime == "prompted teacher cleared"
    if not cleared:
        records = _teacher_written(records, tiny_teacher)
    data = write_jsonl(records)
    teacher, tolerance = (None, 0.5) if cleared else (tiny_teacher, 0.0)
    settings = dict(tolerance=tolerance, sequential=True, batch_rows=8, teacher_traits=False)
    staged = run_scan(_config(data, tiny_model, teacher, give_way_rows=16, **settings))
    every = run_scan(_config(data, tiny_model, teacher, baselines="all", **settings))
    assert staged.verdict == every.verdict and staged.exit_code == every.exit_code
    info = staged.baselines
    assert info is not None and info.gave_way is not None and staged.sequential is not None
    (first, at_first), (second, at_second) = list(info.gave_way.items())[:2]  # at the first look past each limit
    assert (first, second) == ("reference", info.scored[1]) and 16 <= at_first < 24 and 32 <= at_second < 40
    assert all(name in info.scored[:-1] for name in info.gave_way)  # the stage that ended the scan never gave way
    assert staged.sequential.rule != "gave way"
    assert f"undecided, gave way: reference at {at_first} rows" in (baselines_description(staged) or "")
    if cleared:  # settled by a stage's clean stop, at the first look allowed to decide
        assert staged.verdict is Verdict.CLEAN and staged.sequential.rule == "clean within tolerance"
        assert info.settled_by in info.scored and info.scored[-1] not in info.gave_way
        assert 64 <= staged.input.rows_scored < 72 and len(info.scored) == 3  # not the rows of a stage that gave way
    else:  # flagged: only the last stage, the all-baselines scan, can say so
        assert staged.verdict is Verdict.FLAGGED and info.scored == info.planned and info.settled_by is None
        assert every.sequential is not None and staged.sequential.rule == every.sequential.rule == "flagged"
        assert staged.input.rows_scored == every.input.rows_scored
        assert [r.p_value for r in staged.results] == [r.p_value for r in every.results]


def test_a_shard_scan_scores_every_baseline(tiny_model: Path, write_jsonl: Any,
                                                         number_rows: list[dict[str, Any]]) -> None:
    data = write_jsonl(number_rows)
    report = run_scan(_config(data, tiny_model, tolerance=0.5, shard=(1, 1)))
    assert report.baselines is not None and report.baselines.mode == "all"
    assert "shard" in report.baselines.reason and len(report.results) == 3
    assert dataclasses.replace(_config(data, tiny_model), baselines="all").baselines == "all"


def test_baselines_option_on_the_command_line(tiny_model: Path, write_jsonl: Any, number_rows: list[dict[str, Any]],
                                              tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_jsonl(number_rows)
    out = tmp_path / "report.json"
    base = ["scan", str(data), "--reference", str(tiny_model), "--teacher-system-prompt", "You love owls."]
    code, _, err = run_cli([*base, "--tolerance", "0.5", "--report", str(out)], capsys, monkeypatch)
    assert code == 0, err
    assert "Baselines (on-demand): scored reference; not needed: control" in err
    assert "settled by reference" in err
    code, _, err = run_cli([*base, "--baselines", "some"], capsys, monkeypatch)
    lines = err.strip().splitlines()
    assert code == 4 and len(lines) == 1 and "--baselines must be on-demand or all" in lines[0], err
