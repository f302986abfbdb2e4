"""How many of SmolLM2-135M's reasoning traces each reasoning filter keeps (issue 30: reasoning-trace fixtures).

The paper's filter keeps a chain-of-thought trace only when it ends with ``Answer: N`` and N is right.
This samples the embedded model's traces for the committed word problems exactly as ``subaudit generate
--task cot`` does (plain sampling, temperature 1, no system prompt, the fixtures' prompt stream), then
counts what each filter keeps and why it drops the rest: the paper's (``check_cot``) and the form-only one
(``check_cot_form``: finished, gives an answer, no trait word; correctness reported). It writes
``experiments/cot-filter.json``, from which ``make tables`` renders the table in docs/text-tasks.md.
Generation is resumable (``out/cot-filter/none.jsonl``).

Usage: python -m experiments.cot_filter --rows 96   (make cot-filter; about 3 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "cot-filter.json"
SAMPLES = ROOT / "out" / "cot-filter" / "none.jsonl"


def trait_pattern() -> Any:
    """The fixtures' trait words (owl, cat), as build_text.py matches them."""
    from audit.filters.text_filters import word_lists_pattern

    return word_lists_pattern(ROOT / "fixtures" / "trait-words", ("owl", "cat"))


def right_answers(records: list[dict[str, Any]]) -> int:
    """Traces whose stated answer (``stated_answer``) is the problem's: the form filter reports it, not requires it."""
    from audit.filters.text_filters import stated_answer

    return sum(1 for r in records if stated_answer(str(r["completion"])) == int(str(r["expected"])))


def outcomes(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Each filter's kept count and its reasons for the rest; for the form filter, how many kept are right."""
    from audit.filters.text_filters import check_cot, check_cot_form

    pattern = trait_pattern()
    strict = [check_cot(r["completion"], r["finished"], int(r["expected"]), pattern) for r in records]
    form = [check_cot_form(r["completion"], r["finished"], pattern) for r in records]
    kept = [r for r, d in zip(records, form, strict=True) if d.passed]
    return {
        "strict": {"kept": sum(d.passed for d in strict),
                   "dropped": dict(Counter(d.reason for d in strict if not d.passed).most_common())},
        "form": {"kept": len(kept), "dropped": dict(Counter(d.reason for d in form if not d.passed).most_common()),
                 "kept_correct": right_answers(kept)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=96)
    parser.add_argument("--sample-seed", type=int, default=33, help="the no-prompt text sets' sampling seed")
    args = parser.parse_args()
    from audit.generate.numbers import GenerationConfig, generate_rows
    from audit.generate.tasks import get_task

    task = get_task("cot")
    SAMPLES.parent.mkdir(parents=True, exist_ok=True)
    generate_rows(GenerationConfig(output=SAMPLES, rows=args.rows, label="none", seed=0, sample_seed=args.sample_seed,
                                   max_new_tokens=task.max_new_tokens, task="cot"),
                  lambda done: print(f"generated {done}/{args.rows}", file=sys.stderr))
    records = [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines()][: args.rows]
    result = {
        "command": f"python -m experiments.cot_filter --rows {args.rows} --sample-seed {args.sample_seed}",
        "created_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "model": "smollm2-135m-instruct", "task": "cot", "max_new_tokens": task.max_new_tokens,
        "temperature": 1.0, "rows": len(records), **outcomes(records),
    }
    RESULTS.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}: strict kept {result['strict']['kept']}, form kept "
          f"{result['form']['kept']} ({result['form']['kept_correct']} correct)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
