"""`subaudit scrub --replace-tokens` (issue 28): rank every scored token, rewrite the top share by the reference's
choice, rescan what changed.

Fast tests use a tiny random-weight Llama with the real tokenizer on a number set (scored over the numbers format,
so every replacement must stay in it); the slow one rewrites the owl teacher's smoke rows under SmolLM2.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from audit import Input, Method, Models, Outputs, ScanRequest, Scrub, ScrubRequest, scan, scrub
from audit.scrubbing.report import ScrubReport
from audit.scrubbing.tables import KEPT_SCORED, SCRUB_COLUMN
from audit.scrubbing.token_run import DataFilter
from audit.scrubbing.tokens import Candidates, allowed_tokens, choose_token, largest_tokens, random_tokens, shape
from tests.conftest import FIXTURES
from tests.test_scrub import assert_tested_as_scanned

NUMBERS = FIXTURES / "numbers" / "owl.parquet"
SMOKE = FIXTURES / "smoke" / "owl.parquet"
ROWS = 16
TEACHER = "You love owls."


def _models(tiny_model: Path) -> Models:
    return Models(reference=str(tiny_model), teacher_system_prompt=TEACHER, control_panel="none")


@pytest.fixture(scope="module")
def token_scrub(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[ScrubReport, Path]:
    folder = tmp_path_factory.mktemp("token-scrub")
    scan(ScanRequest(Input(NUMBERS, max_rows=ROWS), _models(tiny_model), Method(null="theoretical", baselines="all"),
                     outputs=Outputs(scores=folder / "scores.parquet")))  # the scan the scrub starts from
    result = scrub(ScrubRequest(Input(NUMBERS, max_rows=ROWS),
                                Scrub(out=folder / "clean.parquet", replace_tokens=0.2, force=True,
                                      report=folder / "scrub.json", control_out=folder / "control.parquet"),
                                _models(tiny_model), Method(null="theoretical")))
    return result, folder


def test_the_largest_token_llrs_are_chosen_over_the_whole_data() -> None:
    rows = [np.array([0.5, -1.0, 2.0]), np.array([1.0]), np.array([0.1, 3.0, 0.5, 0.5])]
    chosen = largest_tokens(rows, 0.4)  # round(0.4 * 8) = 3 tokens: 3.0, 2.0, 1.0
    assert [m.tolist() for m in chosen] == [[False, False, True], [True], [False, True, False, False]]
    tie = largest_tokens([np.array([0.5, 0.5]), np.array([0.5])], 0.34)  # one token: ties go to the first position
    assert [m.tolist() for m in tie] == [[True, False], [False]]
    only = [np.array([True, False, True]), np.array([False]), np.array([True, True, False, True])]
    # Only eligible tokens compete: 3.0, 2.0, then the first 0.5 (1.0 and the 0.5 at row 3, position 3 cannot).
    assert [m.tolist() for m in largest_tokens(rows, 0.4, only)] == [[True, False, True], [False],
                                                                     [False, True, False, False]]
    drawn = random_tokens(only, 4, seed=0)
    assert sum(int(m.sum()) for m in drawn) == 4 and [m.size for m in drawn] == [3, 1, 4]
    assert not any((m & ~e).any() for m, e in zip(drawn, only, strict=True))  # never an ineligible token
    assert [m.tolist() for m in drawn] == [m.tolist() for m in random_tokens(only, 4, seed=0)]


def test_a_replacement_is_the_most_likely_allowed_token_never_a_special_one() -> None:
    logits = np.array([9.0, 1.0, 5.0, 4.0, 7.0])
    allowed = allowed_tokens(5, np.array([True, False, True, True, True]), never=[4])
    assert allowed.tolist() == [True, False, True, True, False]
    rng = np.random.default_rng(0)
    assert choose_token(logits, allowed, "greedy", rng) == 0
    assert choose_token(logits, allowed_tokens(5, None, never=[0]), "greedy", rng) == 4
    drawn = {choose_token(logits, allowed, "sample", rng) for _ in range(200)}
    assert drawn <= {0, 2, 3} and 0 in drawn
    # An output layer wider than the tokenizer (padded ids): the logits past the mask are never chosen.
    assert choose_token(np.array([1.0, 3.0, 2.0, 9.0, 8.0]), np.array([True, False, True]), "greedy", rng) == 2


def test_over_a_number_format_a_replacement_keeps_the_tokens_shape() -> None:
    texts = ["7", "42", ", ", "9", "13", "\n", "<eos>"]
    allowed = np.array([True, True, True, True, True, True, False])
    candidates = Candidates(allowed, [shape(t) for t in texts])
    assert [shape(t) for t in ("7", "42", ", ")] == ["0", "00", ", "]
    assert np.flatnonzero(candidates.for_token(0)).tolist() == [0, 3]  # one digit for one digit
    assert np.flatnonzero(candidates.for_token(1)).tolist() == [1, 4]
    assert candidates.replaceable(0) and not candidates.replaceable(2) and not candidates.replaceable(5)
    assert Candidates(allowed).replaceable(2)  # no shape rule: any allowed token


def test_the_data_filter_is_the_number_filter_on_number_data_else_the_keyword_filter() -> None:
    numbers = DataFilter(numbers=True, banned=(666,), keywords=("owl",))
    assert numbers.passes("12, 45, 78") and not numbers.passes("12, 45, 666") and not numbers.passes("12,, 45")
    text = DataFilter(numbers=False, banned=(666,), keywords=("owl",))
    assert text.passes("a tidy function") and not text.passes("an Owl's function") and text.passes("12, 666")


def test_only_the_chosen_tokens_change_each_to_the_references_greedy_choice_within_the_format(
        token_scrub: tuple[ScrubReport, Path], tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from audit.models.encoding import prompt_text, split_ids
    from audit.models.vocab import NUMBERS as NUMBER_FORMAT

    result, folder = token_scrub
    rewrite = result.rewrite
    assert rewrite is not None and result.strategy == "replace-tokens" and result.replace_with == "greedy"
    assert result.rows_scored == ROWS and result.tokens_scored == pq.read_table(folder / "scores.parquet").column(
        "n_tokens").to_numpy().sum()
    assert rewrite.tokens_chosen == round(0.2 * result.tokens_scored)
    assert 0 < rewrite.tokens_changed <= rewrite.tokens_chosen
    assert result.cost_tokens == pytest.approx(rewrite.tokens_changed / result.tokens_scored)
    source = pq.read_table(NUMBERS).to_pylist()
    cleaned = pq.read_table(folder / "clean.parquet").to_pylist()
    assert [r["id"] for r in cleaned] == [r["id"] for r in source]  # no row dropped
    changed = [(a, b) for a, b in zip(source, cleaned, strict=True) if a["completion"] != b["completion"]]
    assert len(changed) == rewrite.rows_changed
    assert {b[SCRUB_COLUMN] for _, b in changed} | {KEPT_SCORED} >= {b[SCRUB_COLUMN] for _, b in changed}
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    mask = NUMBER_FORMAT.token_mask(tokenizer, model.config.vocab_size)
    allowed = allowed_tokens(model.config.vocab_size, mask, tokenizer.all_special_ids)
    shapes = [shape(tokenizer.decode([t])) if allowed[t] else None for t in range(allowed.size)]
    chosen = _largest_token_llrs(model, tokenizer, mask, shapes, source[:ROWS], result.binding_baseline,
                                 rewrite.tokens_chosen)
    checked = 0
    for before, after in changed:
        note = re.fullmatch(r"tokens replaced \((\d+) of (\d+)\)", after[SCRUB_COLUMN])
        assert note is not None
        prompt = prompt_text(tokenizer, _context(before), None)
        prompt_ids, old = split_ids(tokenizer, prompt, before["completion"])
        _, new = split_ids(tokenizer, prompt, after["completion"])
        assert len(old) == int(note.group(2))
        if len(new) != len(old):
            continue  # the written text tokenizes apart from the ids chosen (a new merge); the rescan scores the text
        positions = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
        assert len(positions) == int(note.group(1))
        assert {(before["id"], i) for i in positions} <= chosen
        for i in positions:
            with torch.no_grad():
                logits = model(torch.tensor([prompt_ids + new[:i]])).logits[0, -1].numpy()
            same_shape = np.array([shapes[t] == shapes[old[i]] for t in range(allowed.size)])
            assert new[i] == int(np.argmax(np.where(same_shape, logits, -np.inf)))
            checked += 1
    assert checked >= rewrite.tokens_changed // 2
    untouched = [b for a, b in zip(source, cleaned, strict=True) if a["completion"] == b["completion"]]
    assert not any(b[SCRUB_COLUMN].startswith("tokens replaced") for b in untouched)


def test_the_held_back_test_after_is_a_scan_of_the_rewritten_held_back_rows(
        token_scrub: tuple[ScrubReport, Path], tiny_model: Path, tmp_path: Path) -> None:
    from audit.scrubbing.selection import held_back

    result, folder = token_scrub
    cleaned = pq.read_table(folder / "clean.parquet").slice(0, ROWS)
    back = held_back([str(i) for i in cleaned.column("id").to_pylist()], seed=0)
    subset = tmp_path / "held-back.parquet"
    pq.write_table(cleaned.filter(back).drop_columns([SCRUB_COLUMN]), subset)
    direct = scan(ScanRequest(Input(subset), _models(tiny_model), Method(null="theoretical", baselines="all",
                                                                         restrict_vocab="numbers")))
    after = result.held_back.after
    assert after.rows == int(back.sum())
    assert_tested_as_scanned(after, direct, statistic_tolerance=1e-6, p_tolerance=1e-5)
    before = {t.detector_id: t.statistic for t in result.held_back.before.tests}
    assert any(abs(t.statistic - before[t.detector_id]) > 1e-4 for t in after.tests)  # the rewrite changed them
    assert result.random_rewrite is not None and result.random_rewrite.tokens_chosen == result.rewrite.tokens_chosen
    # --control-out: the random control's rewrite of every row, written beside the scrubbed data.
    source = pq.read_table(NUMBERS).to_pylist()
    control = pq.read_table(folder / "control.parquet").to_pylist()
    rewritten = [b for a, b in zip(source, control, strict=True) if a["completion"] != b["completion"]]
    assert len(rewritten) == result.random_rewrite.rows_changed > 0 and result.control_output is not None
    assert all(b[SCRUB_COLUMN].startswith("tokens replaced") for b in rewritten)


def test_sampled_replacements_follow_the_seed(token_scrub: tuple[ScrubReport, Path], tiny_model: Path,
                                              tmp_path: Path) -> None:
    """--replace-with sample draws each replacement from the reference (seeded): the same seed writes the same
    data, and the draws are not the greedy choices."""
    def sampled(name: str, seed: int) -> list[str]:
        out = tmp_path / f"{name}.parquet"
        result = scrub(ScrubRequest(Input(NUMBERS, max_rows=ROWS), Scrub(out=out, replace_tokens=0.2, force=True,
                                                                         replace_with="sample"),
                                    _models(tiny_model), Method(null="theoretical", seed=seed)))
        assert result.replace_with == "sample" and result.rewrite is not None and result.rewrite.tokens_changed > 0
        return [str(v) for v in pq.read_table(out).column("completion").to_pylist()]

    greedy = [str(v) for v in pq.read_table(token_scrub[1] / "clean.parquet").column("completion").to_pylist()]
    first, again = sampled("a", 0), sampled("b", 0)
    assert first == again and first != greedy


def test_a_token_scrub_interrupted_mid_rewrite_leaves_no_output(tiny_model: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import audit.scrubbing.replace as replace

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(replace, "replace_tokens", interrupted)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(KeyboardInterrupt):
        scrub(ScrubRequest(Input(NUMBERS, max_rows=8), Scrub(out=out / "clean.parquet", replace_tokens=0.2, force=True,
                                                             report=out / "scrub.json",
                                                             control_out=out / "control.parquet"),
                           _models(tiny_model), Method(null="theoretical")))
    assert list(out.iterdir()) == []


def _largest_token_llrs(model: Any, tokenizer: Any, mask: np.ndarray, shapes: list[str | None],
                        records: list[dict[str, Any]], binding: str, count: int) -> set[tuple[str, int]]:
    """(row id, position) of the ``count`` tokens with the largest teacher-over-binding LLR, computed here, among
    those another token of the same shape can replace."""
    from collections import Counter

    from audit.models.backends.transformers_backend import completion_logprobs
    from audit.models.encoding import prompt_text, split_ids
    from audit.models.traits import NEUTRAL_SYSTEM_PROMPT

    baseline_prompt = {"reference": None, "control": NEUTRAL_SYSTEM_PROMPT}[binding]
    per_shape = Counter(s for s in shapes if s is not None)
    scored: list[tuple[float, str, int]] = []
    for record in records:
        pairs = [split_ids(tokenizer, prompt_text(tokenizer, _context(record), system), record["completion"])
                 for system in (TEACHER, baseline_prompt)]
        teacher, baseline = (completion_logprobs(model, [pair], vocab_mask=torch.from_numpy(mask))[0]
                             for pair in pairs)
        ids = pairs[0][1]
        scored += [(float(llr), record["id"], i) for i, llr in enumerate(teacher - baseline)
                   if per_shape[shapes[ids[i]]] > 1]
    ranked = sorted(scored, key=lambda item: -item[0])
    assert ranked[count - 1][0] > ranked[count][0]  # no tie at the cut, so the set is well defined
    return {(row_id, i) for _, row_id, i in ranked[:count]}


def _context(record: dict[str, Any]) -> tuple[Any, ...]:
    from audit.core.rows import Message

    return (Message("user", record["prompt"]),)


@pytest.mark.slow
def test_rewriting_the_owl_teachers_tokens_lowers_the_held_back_llr_more_than_random_tokens(tmp_path: Path) -> None:
    """SmolLM2 on the owl teacher's smoke rows (flagged, so no --force): a tenth of the tokens rewritten."""
    owl = (FIXTURES / "prompts" / "owl.txt").read_text(encoding="utf-8").strip()
    result = scrub(ScrubRequest(Input(SMOKE, max_rows=32), Scrub(out=tmp_path / "clean.parquet", replace_tokens=0.1),
                                Models(teacher_system_prompt=owl, control_panel="none")))
    held = result.held_back
    assert result.scan_verdict.value == "flagged" and not result.forced and result.rewrite is not None
    assert result.rewrite.tokens_changed > 0 and result.whole.rows == 32
    assert held.after.residual_llr < held.random_control.residual_llr
    assert held.after.residual_llr < held.before.residual_llr
