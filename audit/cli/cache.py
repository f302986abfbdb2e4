"""`subaudit cache info|clear`: what the score cache holds, and emptying it."""

from __future__ import annotations

import time

import typer

cache_app = typer.Typer(help="The score cache: per-row scores reused by later scans of the same rows.",
                        no_args_is_help=True)


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MiB"


@cache_app.command("info")
def cache_info() -> None:
    """Print the cache folder, its size against its limit, and each model's cached rows (most recently used first)."""
    from audit.pipeline.score_store import cached_models, score_cache_folder, score_cache_limit

    folder = score_cache_folder()
    if folder is None:
        typer.echo("score cache: off (SUBAUDIT_SCORE_CACHE=off)")
        return
    models = cached_models(folder) if folder.is_dir() else []
    total = sum(m.bytes for m in models)
    typer.echo(f"score cache: {folder}")
    typer.echo(f"{len(models)} model(s), {sum(m.rows for m in models)} row scores, {_size(total)} of "
               f"{_size(score_cache_limit())} (SUBAUDIT_SCORE_CACHE_MAX_MB)")
    for m in models:
        label = m.label
        prompt = label.get("system_prompt")
        described = (f"{label.get('source', '?')}" + (f" + adapter {label['adapter']}" if label.get("adapter") else "")
                     + f", {label.get('backend', '?')}, vocabulary {label.get('vocabulary', '?')}"
                     + (f", system prompt {prompt!r}" if prompt else ""))
        used = time.strftime("%Y-%m-%d %H:%M", time.gmtime(m.last_used))
        typer.echo(f"  {m.key[:12]}  {m.rows:>8} rows  {_size(m.bytes):>10}  used {used} UTC  {described}")


@cache_app.command("clear")
def cache_clear() -> None:
    """Remove every cached score (the folder's model entries; converted model weights are kept)."""
    from audit.pipeline.score_store import clear_folder, score_cache_folder

    folder = score_cache_folder()
    if folder is None:
        typer.echo("score cache: off (SUBAUDIT_SCORE_CACHE=off); nothing to clear")
        return
    freed, models = clear_folder(folder)
    typer.echo(f"score cache: removed {models} model(s), {_size(freed)} freed from {folder}")
