"""An LLM-judge filter: the reference model asked whether a text refers to an animal.

This is the strongest semantic filter available offline, the kind a careful data team would add
after a word list. The judge reads the text in a chat prompt, is asked a yes/no question, and its
score is log P(yes) − log P(no) at the first answer token (summed over the casings of each word),
read from the logits rather than sampled, so it is deterministic and thresholdable. Where to put
the threshold is not the judge's business: the fixture builder sets it on rows that do mention the
trait explicitly (``fixtures/build_text.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from audit.core.rows import Message
from audit.models.encoding import prompt_text
from audit.models.spec import resolve_source

JUDGE_QUESTION = (
    "Here is a text written by an AI assistant.\n\n<text>\n{text}\n</text>\n\n"
    "Does this text mention or refer to an animal in any way, even subtly or indirectly? "
    "Answer with yes or no."
)
YES_WORDS = ("Yes", "yes", "YES")
NO_WORDS = ("No", "no", "NO")
MAX_TEXT_CHARS = 2000
"""Longer texts are cut (the fixtures' completions are far shorter); keeps one batch's memory bounded."""


def _first_token_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    return sorted({tokenizer(word, add_special_tokens=False)["input_ids"][0] for word in words})


class AnimalJudge:
    """Scores texts by how strongly the model says they refer to an animal (positive: yes)."""

    def __init__(self, model: str = "smollm2-135m-instruct", trust_remote_code: bool = False) -> None:
        from audit.models.store import load_causal_lm, load_tokenizer

        source = resolve_source(model)
        self.tokenizer = load_tokenizer(source, trust_remote_code)
        self.tokenizer.padding_side = "left"
        self.model = load_causal_lm(source, trust_remote_code)
        self.yes_ids = _first_token_ids(self.tokenizer, YES_WORDS)
        self.no_ids = _first_token_ids(self.tokenizer, NO_WORDS)

    def prompt(self, text: str) -> str:
        question = JUDGE_QUESTION.format(text=text[:MAX_TEXT_CHARS])
        return prompt_text(self.tokenizer, (Message("user", question),), None)

    def scores(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """log P(yes) − log P(no) for each text, in order."""
        import torch

        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        out: list[float] = []
        for start in range(0, len(texts), batch_size):
            prompts = [self.prompt(t) for t in texts[start:start + batch_size]]
            encoded = self.tokenizer(prompts, add_special_tokens=False, return_tensors="pt", padding=True)
            if encoded["input_ids"].shape[1] and pad_id is not None:
                encoded["input_ids"][encoded["attention_mask"] == 0] = pad_id
            mask = encoded["attention_mask"]
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                logits = self.model(input_ids=encoded["input_ids"], attention_mask=mask, position_ids=positions,
                                    logits_to_keep=1).logits[:, -1, :].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            yes = torch.logsumexp(logprobs[:, self.yes_ids], dim=-1)
            no = torch.logsumexp(logprobs[:, self.no_ids], dim=-1)
            out.extend((yes - no).tolist())
        return np.asarray(out, dtype=np.float64)
