"""Teachers given as LoRA adapters: the merge, the provenance, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from audit.core.exit_codes import ExitCode
from tests.conftest import run_cli

TARGETS = ("q_proj", "v_proj", "down_proj")


def write_adapter(base: Path, folder: Path, rank: int = 4, alpha: float = 8.0, seed: int = 3,
                  extra_config: dict[str, Any] | None = None) -> Path:
    """A random PEFT-format LoRA adapter for the Llama in ``base`` (B non-zero, so it changes the model)."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(base)
    hidden, inner = config.hidden_size, config.intermediate_size
    head_dim = hidden // config.num_attention_heads
    shapes = {"q_proj": (hidden, hidden), "v_proj": (config.num_key_value_heads * head_dim, hidden),
              "down_proj": (hidden, inner)}
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for layer in range(config.num_hidden_layers):
        for name in TARGETS:
            out_features, in_features = shapes[name]
            group = "mlp" if name == "down_proj" else "self_attn"
            prefix = f"base_model.model.model.layers.{layer}.{group}.{name}"
            tensors[f"{prefix}.lora_A.weight"] = torch.randn(rank, in_features, generator=generator) * 0.3
            tensors[f"{prefix}.lora_B.weight"] = torch.randn(out_features, rank, generator=generator) * 0.3
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    adapter_config = {"peft_type": "LORA", "r": rank, "lora_alpha": alpha, "target_modules": list(TARGETS),
                      "lora_dropout": 0.0, "bias": "none", "task_type": "CAUSAL_LM",
                      "base_model_name_or_path": str(base), **(extra_config or {})}
    (folder / "adapter_config.json").write_text(json.dumps(adapter_config))
    return folder


def merged_by_hand(base: Path, adapter: Path, folder: Path) -> Path:
    """The base with W + (alpha/r)·B·A written into its state dict by name: an independent merge."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((adapter / "adapter_config.json").read_text())
    scale = config["lora_alpha"] / config["r"]
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    state = model.state_dict()
    lora = load_file(str(adapter / "adapter_model.safetensors"))
    for key in lora:
        if key.endswith("lora_A.weight"):
            name = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight") + ".weight"
            state[name] += scale * (lora[key.replace("lora_A", "lora_B")] @ lora[key])
    model.load_state_dict(state)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)
    return folder


def test_adapter_teacher_equals_hand_merged_weights(tiny_model: Path, tmp_path: Path, write_jsonl: Any,
                                                    number_rows: list[dict[str, Any]],
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = write_adapter(tiny_model, tmp_path / "adapter")
    merged = merged_by_hand(tiny_model, adapter, tmp_path / "merged")
    data = write_jsonl(number_rows)
    llr = {}
    for name, teacher in (("adapter", ["--teacher-adapter", str(adapter)]), ("merged", ["--teacher", str(merged)])):
        # The scores are under test, not the null (a random tiny model cannot write the measured one's rows).
        code, _, err = run_cli(["scan", str(data), "--reference", str(tiny_model), *teacher, "--no-control",
                                "--null", "theoretical", "--quiet",
                                "--report", str(tmp_path / f"{name}.json"), "--scores", str(tmp_path / f"{name}.pq")],
                               capsys, monkeypatch)
        assert code in (ExitCode.CLEAN, ExitCode.FINDINGS), err
        llr[name] = np.array(pq.read_table(tmp_path / f"{name}.pq").column("llr_sum").to_pylist())
    np.testing.assert_allclose(llr["adapter"], llr["merged"], atol=1e-5, rtol=0)
    assert np.abs(llr["adapter"]).max() > 1e-2  # the adapter moved the model, so equality means something
    teacher = next(m for m in json.loads((tmp_path / "adapter.json").read_text())["models"] if m["role"] == "teacher")
    assert teacher["adapter"] == str(adapter.resolve())
    assert teacher["adapter_sha256"] and len(teacher["adapter_sha256"]) == 64


@pytest.mark.parametrize(("case", "message"), [
    ("missing", "adapter not found"),
    ("no_weights", "needs adapter_config.json and adapter_model.safetensors"),
    ("dora", "uses use_dora; only plain LoRA on linear layers is supported"),
    ("wrong_module", "which the base model lacks"),
])
def test_bad_adapters_fail_in_one_line(case: str, message: str, tiny_model: Path, tmp_path: Path, write_jsonl: Any,
                                       number_rows: list[dict[str, Any]], capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "adapter"
    if case == "no_weights":
        folder.mkdir()
        (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    elif case == "dora":
        write_adapter(tiny_model, folder, extra_config={"use_dora": True})
    elif case == "wrong_module":
        write_adapter(tiny_model, folder)
        from safetensors.torch import load_file, save_file

        weights = str(folder / "adapter_model.safetensors")
        save_file({k.replace("q_proj", "qq_proj"): v for k, v in load_file(weights).items()}, weights)
    code, _, err = run_cli(["scan", str(write_jsonl(number_rows)), "--reference", str(tiny_model),
                            "--teacher-adapter", str(folder), "--quiet"], capsys, monkeypatch)
    assert code == ExitCode.USAGE_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("subaudit: error:") and message in lines[0], err
