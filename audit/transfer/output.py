"""The transfer command's plain-text summary."""

from __future__ import annotations

from audit.transfer.run import TransferResult


def summary_lines(result: TransferResult) -> list[str]:
    """What a reader needs: the setup, then per trait Δ with its CI, the per-epoch curve and the verdict."""
    train = result.train
    method = "full fine-tuning" if train["full"] else f"LoRA r={train['rank']} alpha={train['alpha']:g}"
    lines = [
        f"student {result.student} on {result.device}; {method}, lr {train['learning_rate']:g}, "
        f"{train['epochs']} epochs, batch {train['batch_size']}, seeds {', '.join(map(str, result.seeds))}",
        f"trained on {result.rows_trained['data']} data rows vs {result.rows_trained['comparison']} comparison rows "
        f"({result.comparison_origin})",
        f"preference: normalised log P(answer) over {len(result.candidates)} animals, {result.questions} questions",
    ]
    level = f"{result.confidence:.0%}"
    for t in result.traits:
        d = t.delta
        interval = f"[{d.low:+.4f}, {d.high:+.4f}]" if d.p_value is not None else "(no interval)"
        p = f"p {d.p_value:.3g}" if d.p_value is not None else "p n/a"
        lines.append(f"{t.trait}: Δ log P = {d.mean:+.4f} nats, {level} CI {interval}, {p} -> {t.verdict}")
        lines.append(f"  untrained {t.base_logprob:.4f}; after training: data students {t.data_logprob:.4f}, "
                     f"comparison students {t.comparison_logprob:.4f}; per seed "
                     + ", ".join(f"{x:+.4f}" for x in t.seed_deltas))
        lines.append("  per epoch: " + "; ".join(f"{e.epoch}: {e.delta.mean:+.4f}" for e in t.curve))
    return lines
