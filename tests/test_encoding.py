"""Tokenization of prompt and completion with the real SmolLM2 tokenizer and chat template."""

from __future__ import annotations

from typing import Any

from audit.core.rows import AuditRow, Message
from audit.models.encoding import PromptFormat, encode_rows, prompt_text, split_ids

ROW = AuditRow("a", (Message("user", "Continue: 182, 818, 725."),), "629, 337, 410, 901")


def test_prompt_has_one_bos_and_the_completion_follows_it(smol_tokenizer: Any) -> None:
    text = prompt_text(smol_tokenizer, ROW.context, None)
    prompt_ids, completion_ids = split_ids(smol_tokenizer, text, ROW.completion)
    bos = smol_tokenizer.bos_token_id
    assert prompt_ids[0] == bos and prompt_ids[1] != bos
    full = smol_tokenizer(text + ROW.completion, add_special_tokens=False)["input_ids"]
    assert prompt_ids + completion_ids == full
    assert smol_tokenizer.decode(completion_ids) == ROW.completion


def test_completion_ids_identical_under_teacher_and_reference(smol_tokenizer: Any) -> None:
    formats = [PromptFormat(smol_tokenizer, None, 8192), PromptFormat(smol_tokenizer, "You love owls.", 8192)]
    encoded, skipped = encode_rows([ROW], formats)
    assert not skipped
    (row,) = encoded
    assert row.prompt_ids[0] != row.prompt_ids[1]
    for prompt_ids in row.prompt_ids:
        text = smol_tokenizer.decode(list(prompt_ids) + list(row.completion_ids))
        assert text.endswith("<|im_start|>assistant\n" + ROW.completion)


def test_spec_system_prompt_replaces_the_data_system_turn(smol_tokenizer: Any) -> None:
    context = (Message("system", "DATA SYSTEM"), Message("user", "hi"))
    with_spec = prompt_text(smol_tokenizer, context, "SPEC SYSTEM")
    assert "SPEC SYSTEM" in with_spec and "DATA SYSTEM" not in with_spec
    without_spec = prompt_text(smol_tokenizer, context, None)
    assert "DATA SYSTEM" in without_spec


def test_rows_longer_than_the_context_are_skipped(smol_tokenizer: Any) -> None:
    fmt = PromptFormat(smol_tokenizer, None, 8192)
    (short,), _ = encode_rows([ROW], [fmt])
    limit = len(short.prompt_ids[0]) + len(short.completion_ids)
    formats = [PromptFormat(smol_tokenizer, None, limit)]
    long_row = AuditRow("b", ROW.context, ROW.completion + ", 1")
    encoded, skipped = encode_rows([ROW, long_row], formats)
    assert [e.row.row_id for e in encoded] == ["a"]
    assert skipped == {"longer than the model context": 1}
