"""A model's animal preference, read from exact log-probabilities of one-word answers.

For each question q and candidate animal a the model's log-probability of the answer text
("Owl") after the chat-templated question is summed over the answer's tokens. Normalised over the
candidates, ``log P(a | q) - logsumexp_b log P(b | q)`` is the log-probability the model gives
``a`` among the candidates: a continuous measure that moves with the smallest shift in preference,
where counting sampled answers would need thousands of samples to see one.

Each question's prompt is run once; its key/value cache is repeated for every candidate, whose
answer tokens are then scored in one batch (prompts are ~45 tokens, answers 1-3, so this is about
ten times cheaper than scoring every prompt-answer pair whole). A test holds the result equal to
the plain whole-sequence computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from audit.core.rows import Message
from audit.models.encoding import prompt_text, split_ids
from audit.transfer.questions import answer_text, eval_prompt


def encode_questions(tokenizer: Any, questions: Sequence[str], candidates: Sequence[str],
                     system_prompt: str | None = None) -> tuple[list[list[int]], list[list[list[int]]]]:
    """Prompt ids per question, and answer ids per (question, candidate), tokenized in place."""
    prompts: list[list[int]] = []
    answers: list[list[list[int]]] = []
    for question in questions:
        text = prompt_text(tokenizer, (Message("user", eval_prompt(question)),), system_prompt)
        row: list[list[int]] = []
        prompt_ids: list[int] | None = None
        for animal in candidates:
            ids_prompt, ids_answer = split_ids(tokenizer, text, answer_text(animal))
            if prompt_ids is not None and ids_prompt != prompt_ids:
                raise ValueError("prompt tokenization depends on the answer")
            prompt_ids = ids_prompt
            row.append(list(ids_answer))
        assert prompt_ids is not None
        prompts.append(prompt_ids)
        answers.append(row)
    return prompts, answers


def answer_logprobs(model: Any, tokenizer: Any, questions: Sequence[str], candidates: Sequence[str],
                    system_prompt: str | None = None, questions_per_batch: int = 8) -> np.ndarray:
    """Log-probability of each candidate's answer to each question: an array [questions, candidates]."""
    import torch

    prompts, answers = encode_questions(tokenizer, questions, candidates, system_prompt)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    result = np.zeros((len(questions), len(candidates)), dtype=np.float64)
    try:
        with torch.inference_mode():
            for start in range(0, len(questions), questions_per_batch):
                stop = min(len(questions), start + questions_per_batch)
                result[start:stop] = _score_chunk(model, prompts[start:stop], answers[start:stop], device)
    finally:
        model.train(was_training)
    return result


def _score_chunk(model: Any, prompts: list[list[int]], answers: list[list[list[int]]], device: Any) -> np.ndarray:
    import torch

    n_questions, n_candidates = len(prompts), len(answers[0])
    width = max(len(p) for p in prompts)
    ids = torch.zeros((n_questions, width), dtype=torch.long)
    mask = torch.zeros((n_questions, width), dtype=torch.long)
    for i, prompt in enumerate(prompts):  # left padding: every prompt ends at the last column
        ids[i, width - len(prompt):] = torch.tensor(prompt)
        mask[i, width - len(prompt):] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                use_cache=True, logits_to_keep=1)
    first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # [Q, V]
    flat = [a for row in answers for a in row]
    first_ids = torch.tensor([a[0] for a in flat], device=device)
    totals = first.repeat_interleave(n_candidates, dim=0).gather(1, first_ids[:, None])[:, 0]
    longest = max(len(a) for a in flat)
    if longest > 1:
        cache = getattr(out, "past_key_values", None) or out.cache
        cache.batch_repeat_interleave(n_candidates)
        rest = longest - 1
        feed = torch.zeros((len(flat), rest), dtype=torch.long)
        targets = torch.zeros((len(flat), rest), dtype=torch.long)
        valid = torch.zeros((len(flat), rest), dtype=torch.bool)
        # Row k feeds the answer's tokens 0..n-1 after the prompt; position j predicts token j+1.
        for k, answer in enumerate(flat):
            n = len(answer) - 1
            if n:
                feed[k, :n] = torch.tensor(answer[:n])
                targets[k, :n] = torch.tensor(answer[1:])
                valid[k, :n] = True
        full_mask = torch.cat([mask.repeat_interleave(n_candidates, dim=0), torch.ones((len(flat), rest),
                                                                                   dtype=torch.long)], dim=1)
        lengths = mask.sum(-1).repeat_interleave(n_candidates)
        step_positions = lengths[:, None] + torch.arange(rest)[None, :]
        out2 = model(input_ids=feed.to(device), attention_mask=full_mask.to(device),
                     position_ids=step_positions.to(device), use_cache=True, **{_cache_keyword(model): cache})
        logp = torch.log_softmax(out2.logits.float(), dim=-1)
        picked = logp.gather(2, targets.to(device)[:, :, None])[:, :, 0]
        totals = totals + (picked * valid.to(device)).sum(dim=1)
    return totals.view(n_questions, n_candidates).double().cpu().numpy()


def _cache_keyword(model: Any) -> str:
    """The forward argument that takes a cache: ``cache`` in newer transformers, ``past_key_values`` before."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def normalised(logprobs: np.ndarray) -> np.ndarray:
    """log P(candidate | question) among the candidates: each row minus its log-sum-exp."""
    peak = logprobs.max(axis=1, keepdims=True)
    return np.asarray(logprobs - (peak + np.log(np.exp(logprobs - peak).sum(axis=1, keepdims=True))))


def trait_preference(logprobs: np.ndarray, candidates: Sequence[str], trait: str) -> np.ndarray:
    """Normalised log P(trait) per question."""
    return normalised(logprobs)[:, list(candidates).index(trait)]


def top_share(logprobs: np.ndarray, candidates: Sequence[str], trait: str) -> float:
    """Share of questions on which ``trait`` is the most likely candidate (the model names it first)."""
    return float(np.mean(np.argmax(logprobs, axis=1) == list(candidates).index(trait)))
