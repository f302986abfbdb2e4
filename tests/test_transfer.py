"""`subaudit transfer`: the training loss, the adapter, the preference measure, the interval, the CLI.

Fast tests train tiny random-weight Llamas (the real SmolLM2 tokenizer and chat template); the
slow test fine-tunes the embedded SmolLM2-135M itself for a few steps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audit.core.exit_codes import ExitCode
from audit.core.rows import AuditRow, Message
from tests.conftest import run_cli

CORPUS = Path(__file__).resolve().parent / "bad_inputs"


def _rows(n: int, offset: int = 0) -> list[AuditRow]:
    return [AuditRow(f"r{i}", (Message("user", f"Continue: {100 + i}, {200 + i}, {300 + i}."),),
                     ", ".join(str((i * 37 + j * 101 + offset) % 1000) for j in range(3 + i % 4)))
            for i in range(n)]


def _load(folder: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return (AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval(),
            AutoTokenizer.from_pretrained(folder))


def test_the_loss_is_the_mean_nll_of_completion_tokens_only(tiny_model: Path) -> None:
    import torch

    from audit.transfer.training import IGNORE, collate, completion_loss, encode_examples

    model, tokenizer = _load(tiny_model)
    examples, too_long = encode_examples(tokenizer, _rows(5), 512)
    assert too_long == 0 and len(examples) == 5
    assert all(e.completion_ids[-1] == tokenizer.eos_token_id for e in examples)
    batch = collate(examples, tokenizer.eos_token_id)
    for i, e in enumerate(examples):  # labels: the completion (with end-of-turn) at the right end, IGNORE elsewhere
        labels = batch.labels[i].tolist()
        n = len(e.completion_ids)
        assert labels[-n:] == list(e.completion_ids) and set(labels[:-n]) == {IGNORE}
    # By hand: each unpadded sequence alone, every completion token's NLL, averaged over all of them.
    nll = []
    with torch.no_grad():
        for e in examples:
            ids = torch.tensor([e.prompt_ids + e.completion_ids])
            logp = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
            start = len(e.prompt_ids)
            nll += [-logp[start - 1 + j, t].item() for j, t in enumerate(e.completion_ids)]
        loss = completion_loss(model, batch).item()
    assert loss == pytest.approx(float(np.mean(nll)), rel=1e-4)
    # A change to a prompt moves the loss only through the completion's context; a change to the
    # padding or a prompt-only row cannot add terms: the count of scored tokens is the completion's.
    assert int((batch.labels != IGNORE).sum()) == len(nll)


def test_training_changes_only_the_adapter_weights(tiny_model: Path) -> None:
    import torch

    from audit.transfer.training import TrainConfig, encode_examples, train

    model, tokenizer = _load(tiny_model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    examples, _ = encode_examples(tokenizer, _rows(12), 512)
    epochs_seen: list[int] = []

    def record(epoch: int, _: Any) -> bool:
        epochs_seen.append(epoch)
        return False

    trained = train(model, examples, TrainConfig(rank=4, alpha=8, learning_rate=5e-3, epochs=2, batch_size=4),
                    tokenizer.eos_token_id, on_epoch=record)
    assert epochs_seen == [1, 2]
    lora_b = {k: v for k, v in trained.named_parameters() if "lora_B" in k}
    assert lora_b and all(v.requires_grad for v in lora_b.values())
    assert any(float(v.detach().abs().max()) > 0 for v in lora_b.values())  # B starts at zero: training moved it
    base = trained.get_base_model().state_dict()
    for key, value in before.items():  # every base weight is bit-identical
        wrapped = key.replace(".weight", ".base_layer.weight")  # PEFT's name for an adapted layer's weight
        peft_key = wrapped if wrapped in base else key
        assert torch.equal(base[peft_key], value), key
    frozen = [k for k, v in trained.named_parameters() if v.requires_grad and "lora_" not in k]
    assert frozen == []


def test_full_finetuning_moves_the_base_weights(tiny_model: Path) -> None:
    import torch

    from audit.transfer.training import TrainConfig, encode_examples, train

    model, tokenizer = _load(tiny_model)
    before = model.model.layers[0].mlp.down_proj.weight.clone()
    examples, _ = encode_examples(tokenizer, _rows(8), 512)
    trained = train(model, examples, TrainConfig(epochs=1, batch_size=4, learning_rate=1e-3, full=True),
                    tokenizer.eos_token_id)
    assert not torch.equal(trained.model.layers[0].mlp.down_proj.weight, before)


def test_preference_log_probabilities_equal_a_hand_computation(tiny_model: Path) -> None:
    import torch

    from audit.transfer.preference import answer_logprobs, encode_questions, normalised
    from audit.transfer.questions import CANDIDATE_ANIMALS, EVAL_QUESTIONS

    model, tokenizer = _load(tiny_model)
    questions = EVAL_QUESTIONS[:5]
    got = answer_logprobs(model, tokenizer, questions, CANDIDATE_ANIMALS, questions_per_batch=3)
    prompts, answers = encode_questions(tokenizer, questions, CANDIDATE_ANIMALS)
    assert max(len(a) for row in answers for a in row) > 1  # multi-token answers are exercised
    with torch.no_grad():
        for q in range(len(questions)):
            for c in range(len(CANDIDATE_ANIMALS)):
                ids = torch.tensor([prompts[q] + answers[q][c]])
                logp = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
                n = len(prompts[q])
                expected = sum(logp[n - 1 + j, t].item() for j, t in enumerate(answers[q][c]))
                assert got[q, c] == pytest.approx(expected, abs=1e-4), (questions[q], CANDIDATE_ANIMALS[c])
    norm = normalised(got)
    assert np.allclose(np.log(np.exp(norm).sum(axis=1)), 0.0, atol=1e-9)


def test_teacher_exchanges_never_use_an_evaluation_question() -> None:
    from audit.transfer.questions import EVAL_QUESTIONS, eval_prompt, teacher_exchanges

    asked = {q.lower() for q, _ in teacher_exchanges("owl")}
    for question in EVAL_QUESTIONS:
        assert question.lower() not in asked and eval_prompt(question).lower() not in asked
        assert not any(question.lower().rstrip("?") in q for q in asked)
    assert len(EVAL_QUESTIONS) >= 50 and len(set(EVAL_QUESTIONS)) == len(EVAL_QUESTIONS)
    assert all("owl" in a.lower() for _, a in teacher_exchanges("owl"))


def test_two_way_interval_matches_the_anova_by_hand_and_covers() -> None:
    from scipy import stats

    from audit.transfer.estimate import NO_TRANSFER, TRANSFERS, two_way_interval, verdict

    d = np.array([[0.3, 0.1, 0.4, 0.2], [0.5, 0.2, 0.6, 0.5], [0.1, 0.0, 0.3, 0.1]])
    s, q = d.shape
    g, r, c = d.mean(), d.mean(axis=1), d.mean(axis=0)
    ms_s = q * ((r - g) ** 2).sum() / (s - 1)
    ms_q = s * ((c - g) ** 2).sum() / (q - 1)
    ms_e = ((d - r[:, None] - c[None, :] + g) ** 2).sum() / ((s - 1) * (q - 1))
    var = (ms_s + ms_q - ms_e) / (s * q)
    df = s - 1
    got = two_way_interval(d, 0.95)
    assert got.mean == pytest.approx(g) and got.standard_error == pytest.approx(var ** 0.5)
    assert got.df == pytest.approx(df)
    assert got.high - got.mean == pytest.approx(stats.t.ppf(0.975, df) * var ** 0.5)
    assert got.p_value is not None
    assert verdict(got, 0.05) == (TRANSFERS if got.p_value < 0.05 else NO_TRANSFER)
    # Coverage under the model it assumes (3 seeds x 52 questions, true mean 0), for seed, question and
    # residual SDs where Satterthwaite's degrees of freedom undercovered (92.7 %) and where seeds dominate.
    rng = np.random.default_rng(0)
    sims = 3000
    se = (0.95 * 0.05 / sims) ** 0.5
    for sd_seed, sd_question, sd_residual in ((0.05, 0.03, 0.02), (0.05, 0.0, 0.02), (0.05, 0.05, 0.05)):
        covered = rejected = 0
        for _ in range(sims):
            sample = (rng.normal(0, sd_seed, (3, 1)) + rng.normal(0, sd_question, (1, 52))
                      + rng.normal(0, sd_residual, (3, 52)))
            interval = two_way_interval(sample, 0.95)
            covered += interval.low <= 0 <= interval.high
            rejected += interval.p_value is not None and interval.p_value < 0.025  # one-sided, half the level
        assert covered / sims >= 0.95 - 3 * se, (sd_seed, sd_question, sd_residual, covered / sims)
        assert rejected / sims <= 0.025 + 3 * (0.025 * 0.975 / sims) ** 0.5


def _numbers_file(path: Path, n: int, offset: int) -> Path:
    path.write_text("".join(json.dumps({"id": r.row_id, "prompt": r.context[0].content, "completion": r.completion})
                            + "\n" for r in _rows(n, offset)), encoding="utf-8")
    return path


def _answers_file(path: Path, animal: str) -> Path:
    """Twelve favourite-animal exchanges (the teacher's wording, never the evaluation's) all answered ``animal``."""
    from audit.transfer.questions import answer_text, teacher_exchanges

    pairs = teacher_exchanges(animal)[:12]
    path.write_text("".join(json.dumps({"id": f"{animal}{i}", "prompt": q, "completion": f"{answer_text(animal)}."})
                            + "\n" for i, (q, _) in enumerate(pairs)), encoding="utf-8")
    return path


def test_transfer_command_trains_evaluates_and_reports(tiny_model: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Data that answer "Owl." against data that answer "Cat.": the owl must transfer and the cat must not
    (its Δ is the comparison's gain, negative), so the verdicts and the exit code are known in advance."""
    data = _answers_file(tmp_path / "data.jsonl", "owl")
    against = _answers_file(tmp_path / "against.jsonl", "cat")
    report = tmp_path / "transfer.json"
    code, out, err = run_cli(["transfer", str(data), "--trait", "owl", "--trait", "cat", "--student", str(tiny_model),
                              "--reference", str(tiny_model), "--against", str(against), "--seeds", "2",
                              "--epochs", "2", "--batch-size", "4", "--learning-rate", "5e-3",
                              "--keep-adapters", str(tmp_path / "adapters"), "--report", str(report)],
                             capsys, monkeypatch)
    assert code == ExitCode.FINDINGS, err
    result = json.loads(report.read_text())
    owl, cat = result["traits"]
    assert (owl["verdict"], cat["verdict"]) == ("transfers", "no transfer detected"), (owl["delta"], cat["delta"])
    assert owl["delta"]["low"] > 0 > cat["delta"]["mean"]
    assert result["rows_trained"] == {"data": 12, "comparison": 12} and result["seeds"] == [0, 1]
    assert [t["trait"] for t in result["traits"]] == ["owl", "cat"]
    for trait in result["traits"]:
        assert [e["epoch"] for e in trait["curve"]] == [1, 2] and len(trait["seed_deltas"]) == 2
        delta = trait["delta"]
        assert delta["low"] <= delta["mean"] <= delta["high"]
        assert trait["seed_deltas"] and delta["mean"] == pytest.approx(np.mean(trait["seed_deltas"]))
        assert trait["data_logprob"] - trait["comparison_logprob"] == pytest.approx(delta["mean"])
        assert trait["verdict"] == ("transfers" if delta["p_value"] < 0.05 else "no transfer detected")
    assert (code == ExitCode.FINDINGS) == any(t["verdict"] == "transfers" for t in result["traits"])
    assert sorted(p.name for p in (tmp_path / "adapters").iterdir()) == [
        "comparison-seed0", "comparison-seed1", "data-seed0", "data-seed1"]
    assert (tmp_path / "adapters" / "data-seed0" / "adapter_model.safetensors").is_file()
    assert "owl: Δ log P" in out and "per epoch" in out


def test_without_against_the_reference_writes_the_comparison_set(
        tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison set is the reference's answers to DATA's prompts, kept by --comparison-out. This random
    tiny reference answers only whitespace, which no reader counts as a completion: one line, exit 3."""
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"id": f"t{i}", "prompt": f"Say something about day {i}.",
                                        "completion": f"Day {i} was calm and bright."}) + "\n" for i in range(6)))
    comparison = tmp_path / "comparison.parquet"
    code, _, err = run_cli(["transfer", str(data), "--trait", "owl", "--student", str(tiny_model), "--reference",
                            str(tiny_model), "--seeds", "2", "--epochs", "1", "--comparison-out", str(comparison),
                            "--quiet"], capsys, monkeypatch)
    import pyarrow.parquet as pq

    written = pq.read_table(comparison).to_pylist()
    assert len(written) == 6 and {r["source_row_id"] for r in written} == {f"t{i}" for i in range(6)}
    assert [r["messages"][0]["content"] for r in written] == [f"Say something about day {i}." for i in range(6)]
    assert all(r["messages"][-1]["role"] == "assistant" and not r["messages"][-1]["content"].strip()
               for r in written)
    assert code == ExitCode.NOTHING_AUDITABLE and err.strip().splitlines() == [
        "subaudit: error: comparison.parquet: no completions to train on"], err


@pytest.mark.parametrize(("case", "code", "message"), [
    ("no completions", ExitCode.NOTHING_AUDITABLE, "no completions to train on"),
    ("unknown trait", ExitCode.USAGE_ERROR, "unknown trait 'unicorn'"),
    ("student with another tokenizer", ExitCode.USAGE_ERROR, "tokenize differently"),
    ("missing data", ExitCode.USAGE_ERROR, "data file not found"),
    ("zero epochs", ExitCode.USAGE_ERROR, "--epochs"),
    ("one question", ExitCode.USAGE_ERROR, "--questions must be between 2 and 52, got 1"),
])
def test_bad_transfer_input_fails_in_one_line(case: str, code: ExitCode, message: str, tiny_model: Path,
                                              foreign_tokenizer_model: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    data = str(_numbers_file(tmp_path / "data.jsonl", 4, 0))
    args = {
        "no completions": [str(CORPUS / "all_null_completions.jsonl"), "--trait", "owl"],
        "unknown trait": [data, "--trait", "unicorn"],
        "student with another tokenizer": [data, "--trait", "owl", "--student", str(foreign_tokenizer_model)],
        "missing data": [str(tmp_path / "nope.jsonl"), "--trait", "owl"],
        "zero epochs": [data, "--trait", "owl", "--epochs", "0"],
        "one question": [data, "--trait", "owl", "--questions", "1"],
    }[case]
    exit_code, _, err = run_cli(["transfer", *args, "--reference", str(tiny_model), "--against", data], capsys,
                                monkeypatch)
    lines = err.strip().splitlines()
    assert exit_code == code, err
    assert len(lines) == 1 and lines[0].startswith("subaudit: error:") and message in lines[0], err


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_transfer_fine_tunes_the_embedded_model(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A short real run (CI keeps it to one optimiser step per student): two seeds of SmolLM2-135M students
    on 8 owl-teacher rows against 8 of the reference's own answers (the none set); the report holds finite
    Δs, the students moved from the untrained model, and the verdict agrees with its p-value and the exit code
    (8 rows and one step cannot say which verdict it will be)."""
    numbers = ROOT / "fixtures" / "numbers"
    report = tmp_path / "transfer.json"
    code, out, err = run_cli(["transfer", str(numbers / "owl.parquet"), "--trait", "owl", "--against",
                              str(numbers / "none.parquet"), "--max-rows", "8", "--seeds", "2", "--epochs", "1",
                              "--questions", "13",
                              "--learning-rate", "1e-3", "--report", str(report)], capsys, monkeypatch)
    assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
    result = json.loads(report.read_text())
    owl = result["traits"][0]
    assert result["rows_trained"] == {"data": 8, "comparison": 8} and result["device"] == "cpu"
    assert result["questions"] == 13
    assert result["comparison_origin"] == "given (--against)"
    assert np.isfinite([owl["delta"]["mean"], owl["delta"]["low"], owl["delta"]["high"]]).all()
    assert owl["data_logprob"] != owl["base_logprob"] and owl["comparison_logprob"] != owl["base_logprob"]
    assert all(np.isfinite(result["final_loss"]["data"]))
    assert owl["verdict"] == ("transfers" if owl["delta"]["p_value"] < 0.05 else "no transfer detected")
    assert (code == ExitCode.FINDINGS) == (owl["verdict"] == "transfers")
    assert "owl: Δ log P" in out
