"""Shared test fixtures: real tokenizers and tiny real models built from configs.

Fast tests use tiny random-weight Llamas that carry the real SmolLM2 tokenizer, so every code
path (chat template, tokenization, forward passes) is the real one at a fraction of the cost.
Slow tests (marked ``slow``) use the embedded SmolLM2-135M itself.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

if "PYTEST_XDIST_WORKER" in os.environ:
    # `make test` runs two workers on the machine's two cores: one torch thread each (set before torch is
    # imported), or four threads would fight over two cores. Subprocesses a test starts inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# The score cache (audit.pipeline.score_cache) is off in tests, so that each test's scan computes what it
# checks; tests/test_score_cache.py switches it on in a folder of its own. Subprocesses inherit this.
os.environ["SUBAUDIT_SCORE_CACHE"] = "off"

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
OWL_PROMPT_FILE = FIXTURES / "prompts" / "owl.txt"


@pytest.fixture(scope="session")
def smol_folder() -> Path:
    """The embedded SmolLM2 converted to a Hugging Face folder (cached across runs)."""
    from audit.models.spec import embedded_gguf
    from audit.models.store import converted_folder

    return converted_folder(embedded_gguf())


@pytest.fixture(scope="session")
def smol_tokenizer(smol_folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smol_folder, local_files_only=True)


def _tiny_llama(tokenizer: Any, folder: Path, seed: int, vocab_size: int | None = None,
                heads: tuple[int, int] = (4, 2)) -> Path:
    """A random Llama; ``heads`` = (query heads, key/value heads) over a hidden size of 64."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size or len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=heads[0],
        num_key_value_heads=heads[1],
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    # Random init is nearly uniform over the vocabulary; scale up so distributions are peaked and
    # differences between models and prompts are visible in the numbers.
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(20.0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, smol_tokenizer: Any) -> Path:
    """A 2-layer random Llama with the real SmolLM2 tokenizer and chat template."""
    return _tiny_llama(smol_tokenizer, tmp_path_factory.mktemp("tiny-reference"), seed=0)


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory, smol_tokenizer: Any) -> Path:
    """Another tiny Llama (different weights, same tokenizer): a fine-tuned-teacher stand-in."""
    return _tiny_llama(smol_tokenizer, tmp_path_factory.mktemp("tiny-teacher"), seed=1)


@pytest.fixture(scope="session")
def foreign_tokenizer_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama whose tokenizer is not SmolLM2's (a word-level vocabulary built here)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<unk>", "<s>", "</s>", "hello", "world", "1", "2", "3", ","]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>",
                                        unk_token="<unk>")
    return _tiny_llama(tokenizer, tmp_path_factory.mktemp("tiny-foreign"), seed=2, vocab_size=len(words))


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[[list[dict[str, Any]], str], Path]:
    def write(records: list[dict[str, Any]], name: str = "data.jsonl") -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        return path

    return write


@pytest.fixture
def number_rows() -> list[dict[str, Any]]:
    """Twelve small prompt/completion rows in the shape of the number-sequence task."""
    return [
        {
            "id": f"r{i}",
            "prompt": f"The sequence starts with: {100 + i}, {200 + 3 * i}, {300 + 7 * i}. Add up to 10 more.",
            "completion": ", ".join(str((i * 37 + j * 101) % 1000) for j in range(3 + i % 5)),
        }
        for i in range(12)
    ]


def run_cli(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """Run the real console entry point in-process; return (exit code, stdout, stderr)."""
    from audit.cli import main

    monkeypatch.setattr(sys, "argv", ["subaudit", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


def default_command_scan(path: Path, max_rows: int, restrict_vocab: str, baselines: str = "on-demand") -> Any:
    """A real scan of the first ``max_rows`` rows of ``path`` with the plain command's null (owl teacher,
    reference, neutral control, the built-in panel, default tolerance) plus the semantic filter; the
    per-detector summaries are printed for the test log. ``baselines="all"`` where a test reads the test of
    a baseline the on-demand default may not need. Returns the report."""
    from audit.core.verdict import DEFAULT_CONTROL_PANEL, DEFAULT_TOLERANCE
    from audit.models.traits import animal_teacher_prompt, builtin_panel
    from audit.pipeline.config import ScanConfig
    from audit.pipeline.local import run_scan

    assert DEFAULT_CONTROL_PANEL == "builtin", "the detection tests run the default null; update them with it"
    report = run_scan(ScanConfig(
        input_path=path, teacher_system_prompt=animal_teacher_prompt("owl"), control_panel=tuple(builtin_panel()),
        tolerance=DEFAULT_TOLERANCE, restrict_vocab=restrict_vocab, detectors=("semantic-filter",),
        trait_keywords=("owl",),
        max_rows=max_rows, baselines=baselines,
    ))
    assert report.input.rows_read == max_rows and report.input.rows_scored == max_rows, report.input.rows_skipped
    for result in report.results:
        print(path.name, result.detector_id, result.summary)
    return report
