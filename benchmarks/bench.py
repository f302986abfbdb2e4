"""`make bench`: scoring throughput, peak memory and the fp32 roofline; writes benchmarks/RESULTS.md.

Every configuration scores the same rows (the first --rows filtered rows of the owl number
fixture) under the same two specs of the embedded SmolLM2-135M (reference, owl-prompted teacher)
and runs in its own subprocess, so its peak RSS is its own. Throughput is the median of --repeats
timed runs after one warm-up run; ratios are taken between configurations of this one run.

Configurations:
- subaudit: the transformers backend as `subaudit scan` uses it (length-bucketed batches under a
  token budget, output layer only at completion positions, shared prompt-prefix KV cache);
- subaudit, no prefix reuse: the same without the prefix cache;
- naive: one row at a time, full forward, log-softmax over the whole vocabulary at every position
  (what one writes by hand with transformers);
- lm-eval: lm-evaluation-harness's `hf` model, `loglikelihood` on (templated prompt, completion)
  pairs, when lm_eval is importable;
- vllm: the vLLM backend (`--backend vllm`), run with .venv-vllm's interpreter (`make install-vllm`;
  vLLM pins its own transformers); the same token ids, one engine, prompt logprobs. Its peak RSS
  is the sum of the peak RSS of this process and the engine's child processes (an upper bound on
  their joint peak).

Roofline: the median fp32 GEMM rate torch reaches on this machine (same thread count) and the
FLOPs a from-scratch computation of the rows needs (decoder over every prompt and completion
token, output layer at the scored positions only); a configuration's share is the useful FLOPs
it completes per second over that GEMM rate. Work a configuration saves (prefix reuse) or wastes
(padding, full-vocabulary output layer) shows in its share. A second share counts only the minimal
work (each spec's shared prompt prefix once): a lower bound on the hardware share reached.

Memory: synthetic parquet files of 10k and 1M rows built from the fixture rows (unique ids) are
scanned end to end by the real CLI with --sample-fraction so that about --memory-scored rows are
scored in each: every row is read, parsed, id-checked and counted; peak RSS of the two scans is
compared.

Usage: python benchmarks/bench.py [--rows 96] [--repeats 3] [--out benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# Benchmarks time the computation: the score cache (audit.pipeline.score_cache), which would answer a repeated
# scan from disk, is off in every process they start; bench_score_cache.py switches it on for its own runs.
os.environ["SUBAUDIT_SCORE_CACHE"] = "off"

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURE = ROOT / "fixtures" / "numbers" / "owl.parquet"
WORK = ROOT / "out" / "bench"
CONFIGS = ("subaudit", "subaudit-no-prefix", "naive", "lm-eval", "vllm")
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _specs() -> list[Any]:
    from audit.models.spec import ModelSpec, embedded_gguf
    from audit.models.traits import animal_teacher_prompt

    source = embedded_gguf()
    return [ModelSpec("reference", source, None), ModelSpec("teacher", source, animal_teacher_prompt("owl"))]


def _rows(n: int) -> list[Any]:
    from audit.input.data import DatasetReader

    return next(iter(DatasetReader(FIXTURE, batch_rows=n).batches(max_rows=n))).rows


def _layer_flops(config: Any) -> tuple[float, float]:
    """(matmul FLOPs per token per layer, attention FLOPs per token per attended position per layer)."""
    hidden = config.hidden_size
    kv_dim = hidden * config.num_key_value_heads // config.num_attention_heads
    per_layer = hidden * hidden * 2 + hidden * kv_dim * 2 + 3 * hidden * config.intermediate_size
    return 2.0 * per_layer, 4.0 * hidden


def _useful_flops(config: Any, sequences: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> float:
    """FLOPs to score the sequences from scratch: decoder on every token, output layer on scored ones."""
    return _minimal_flops(config, [sequences], share_prefix=False)


def _minimal_flops(config: Any, groups: list[list[tuple[tuple[int, ...], tuple[int, ...]]]],
                   share_prefix: bool = True) -> float:
    """FLOPs of the least work that scores the sequences exactly.

    Each group holds one spec's sequences; with share_prefix the prompt prefix common to all of a
    group's rows (template + system prompt) is computed once per group, as an ideal cache would.
    This is the work a configuration cannot avoid, so its rate over the GEMM peak is a lower bound
    on the hardware share it reaches (padding and recomputation count as waste).
    """
    from audit.models.backends.transformers_backend import shared_prefix_length

    matmul, attention = _layer_flops(config)
    layers = config.num_hidden_layers
    total = 0.0
    for sequences in groups:
        shared = shared_prefix_length([p for p, _ in sequences]) if share_prefix else 0
        if shared:
            total += layers * (matmul * shared + attention * shared * (shared + 1) / 2)
        for prompt, completion in sequences:
            length = len(prompt) + len(completion) - 1
            start = min(shared, length)
            own = length - start
            total += layers * (matmul * own + attention * (length * (length + 1) - start * (start + 1)) / 2)
            total += 2.0 * config.hidden_size * config.vocab_size * len(completion)
    return total


def _tree_peak_rss_mb() -> float:
    """Sum of VmHWM (peak RSS) over this process and its live descendants, from /proc."""
    pids, frontier = [os.getpid()], [os.getpid()]
    while frontier:
        pid = frontier.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        pids += [int(c) for c in children]
        frontier += [int(c) for c in children]
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024.0


def _timed(run: Any, repeats: int) -> list[float]:
    """One warm-up run, then ``repeats`` timed ones."""
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


def vllm_worker(rows: int, repeats: int) -> dict[str, Any]:
    """Time the vLLM backend on the same rows and specs (one engine: both specs share weights)."""
    from transformers import AutoConfig

    from audit.models.backends.vllm_backend import VllmBackend
    from audit.models.encoding import encode_rows
    from audit.models.store import converted_folder

    specs = _specs()
    backend = VllmBackend(specs)
    try:
        encoded, skipped = encode_rows(_rows(rows), backend.prompt_formats())
        assert not skipped, skipped
        config = AutoConfig.from_pretrained(converted_folder(specs[0].source), local_files_only=True)
        sequences = [(row.prompt_ids[k], row.completion_ids) for k in range(len(specs)) for row in encoded]
        times = _timed(lambda: backend.score(encoded), repeats)
        peak = _tree_peak_rss_mb()
    finally:
        backend.close()
    return {
        "name": "vllm", "rows": len(encoded), "sequences": len(sequences),
        "scored_tokens": sum(len(c) for _, c in sequences),
        "all_tokens": sum(len(p) + len(c) for p, c in sequences), "times": times,
        "useful_flops": _useful_flops(config, sequences),
        "minimal_flops": _minimal_flops(config, [
            [(row.prompt_ids[k], row.completion_ids) for row in encoded] for k in range(len(specs))]),
        "peak_rss_mb": peak,
        "threads": f"vLLM CPU worker ({os.cpu_count()} CPUs)",
    }


def worker(name: str, rows: int, repeats: int) -> dict[str, Any]:
    """Time one configuration in this process; return its measurements."""
    if name == "vllm":
        return vllm_worker(rows, repeats)
    import torch

    from audit.models.backends.transformers_backend import TransformersBackend
    from audit.models.encoding import encode_rows

    torch.set_num_threads(os.cpu_count() or 1)
    specs = _specs()
    backend = TransformersBackend(specs, reuse_prefix=(name != "subaudit-no-prefix"))
    encoded, skipped = encode_rows(_rows(rows), backend.prompt_formats())
    assert not skipped, skipped
    model = backend._for(specs[0]).model
    sequences = [(row.prompt_ids[k], row.completion_ids) for k in range(len(specs)) for row in encoded]
    scored_tokens = sum(len(c) for _, c in sequences)

    if name in ("subaudit", "subaudit-no-prefix"):
        def run() -> None:
            backend.score(encoded)
    elif name == "naive":
        def run() -> None:
            with torch.inference_mode():
                for prompt, completion in sequences:
                    ids = torch.tensor([list(prompt) + list(completion)])
                    logprobs = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
                    start = len(prompt) - 1
                    positions = torch.arange(start, start + len(completion))
                    logprobs[positions, torch.tensor(completion)].sum().item()
    elif name == "lm-eval":
        run = _lm_eval_runner(backend, specs, encoded)
    else:
        raise SystemExit(f"unknown configuration {name}")
    times = _timed(run, repeats)
    return {
        "name": name, "rows": len(encoded), "sequences": len(sequences), "scored_tokens": scored_tokens,
        "all_tokens": sum(len(p) + len(c) for p, c in sequences), "times": times,
        "useful_flops": _useful_flops(model.config, sequences),
        "minimal_flops": _minimal_flops(model.config, [
            [(row.prompt_ids[k], row.completion_ids) for row in encoded] for k in range(len(specs))]),
        "peak_rss_mb": _peak_rss_mb(),
        "threads": torch.get_num_threads(),
    }


def _lm_eval_runner(backend: Any, specs: list[Any], encoded: list[Any]) -> Any:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from audit.models.encoding import prompt_text

    loaded = backend._for(specs[0])
    lm = HFLM(pretrained=loaded.model, tokenizer=loaded.tokenizer, batch_size=16, device="cpu")
    requests = [
        Instance(request_type="loglikelihood", doc={}, idx=i,
                 arguments=(prompt_text(loaded.tokenizer, row.row.context, spec.system_prompt), row.row.completion))
        for i, (spec, row) in enumerate((s, r) for s in specs for r in encoded)
    ]

    def run() -> None:
        lm.loglikelihood(requests, disable_tqdm=True)

    return run


def gemm_rate(repeats: int = 5) -> dict[str, float]:
    """Median fp32 matmul FLOP/s at shapes the model uses and at a large square one."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    rates: dict[str, float] = {}
    for label, (m, k, n) in {"4096x4096x4096": (4096, 4096, 4096), "2048x576x1536 (MLP)": (2048, 576, 1536),
                             "1024x576x49152 (output layer)": (1024, 576, 49152)}.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            torch.mm(a, b)
            samples.append(2.0 * m * k * n / (time.perf_counter() - started))
        rates[label] = statistics.median(samples)
    return rates


def _subprocess_json(args: list[str], python: str = sys.executable) -> dict[str, Any] | None:
    result = subprocess.run([python, *args], capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": tail}
    return json.loads(result.stdout.strip().splitlines()[-1])


def build_parquet(rows: int) -> Path:
    """A parquet file of ``rows`` rows cycling through the fixture's rows, each with a unique id."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = WORK / f"synthetic-{rows}.parquet"
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    base = pq.read_table(FIXTURE, columns=["prompt", "completion"])
    tmp = path.with_suffix(".partial")
    with pq.ParquetWriter(tmp, pa.schema([("id", pa.string()), ("prompt", pa.string()),
                                          ("completion", pa.string())])) as writer:
        for start in range(0, rows, 100_000):
            count = min(100_000, rows - start)
            index = pa.array([i % base.num_rows for i in range(start, start + count)])
            chunk = base.take(index)
            ids = pa.array([f"row-{i:08d}" for i in range(start, start + count)])
            writer.write_table(pa.table({"id": ids, "prompt": chunk["prompt"], "completion": chunk["completion"]}))
    tmp.rename(path)
    return path


def memory_run(rows: int, scored: int) -> dict[str, Any]:
    """Scan a synthetic file end to end with the real CLI (in a child) and report its peak RSS."""
    path = build_parquet(rows)
    fraction = min(1.0, scored / rows)
    report = WORK / f"report-{rows}.json"
    scores = WORK / f"scores-{rows}.parquet"
    command = ["subaudit", "scan", str(path.relative_to(ROOT)), "--teacher-system-prompt", "You love owls.",
               "--sample-fraction", f"{fraction:g}", "--scores", str(scores.relative_to(ROOT)),
               "--report", str(report.relative_to(ROOT)), "--quiet", "--no-sequential"]
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        f"r = subprocess.run({[str(ROOT / '.venv' / 'bin' / 'subaudit'), *command[1:]]!r}, cwd={str(ROOT)!r})\n"
        "print(r.returncode, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    returncode, seconds, peak = result.stdout.split()
    data = json.loads(report.read_text()) if report.exists() else {}
    return {"rows": rows, "command": " ".join(command), "exit_code": int(returncode), "seconds": float(seconds),
            "peak_rss_mb": float(peak), "rows_read": data.get("input", {}).get("rows_read"),
            "rows_scored": data.get("input", {}).get("rows_scored")}


def timed_scan(command: list[str], report: Path, name: str, cwd: Path) -> tuple[float, int, dict[str, Any]]:
    """Run one whole CLI scan: its wall seconds, its exit code (0 or 1, else an error) and its parsed report."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise RuntimeError(f"{name}: exit {result.returncode}: {result.stderr.strip()[-400:]}")
    return seconds, result.returncode, json.loads(report.read_text())


class OtherLoad:
    """CPU that processes outside this one and its children used while a block ran: a slow spell's witness.

    This machine is shared, and a timing taken beside another job is high. Instead of a note added by
    hand after the fact, a benchmark wraps each timed run in this and writes what it measured: the
    machine's busy CPU seconds (/proc/stat) over the block minus the CPU seconds of this process and the
    children it waited for (getrusage). `other_cores` is that excess over the wall time: 0 on a quiet
    machine, 1.0 when another job kept one core busy throughout. None where /proc/stat is unreadable.
    """

    def __enter__(self) -> OtherLoad:
        self.other_cores: float | None = None
        self._start = (time.perf_counter(), _machine_busy_seconds(), _own_cpu_seconds())
        return self

    def __exit__(self, *_: object) -> None:
        wall, busy, own = time.perf_counter(), _machine_busy_seconds(), _own_cpu_seconds()
        wall0, busy0, own0 = self._start
        if busy is not None and busy0 is not None and wall > wall0:
            self.other_cores = max(0.0, (busy - busy0) - (own - own0)) / (wall - wall0)


def _machine_busy_seconds() -> float | None:
    """CPU seconds every process on this machine has used since boot (user, nice, system, irq, softirq)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(value) for value in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """CPU seconds of this process and of the children it has waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def load_sentence(loads: dict[str, float | None]) -> str:
    """One generated line saying how busy the rest of the machine was during each named run."""
    measured = {name: value for name, value in loads.items() if value is not None}
    if not measured:
        return "Other processes' CPU during the runs: not measured (/proc/stat unreadable)."
    cores = os.cpu_count() or 1
    parts = ", ".join(f"{name} {value:.2f}" for name, value in measured.items())
    busy = [name for name, value in measured.items() if value >= 0.25]
    verdict = (f"runs with 0.25 or more ({', '.join(busy)}) shared the machine and their seconds are high"
               if busy else "every run had the machine to itself (under 0.25 each)")
    return (f"Other processes' CPU during each run, in cores kept busy on average (of {cores}; measured by "
            f"the script from /proc/stat less the scan's own CPU): {parts}; {verdict}.")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-rows", default="10000,1000000")
    parser.add_argument("--memory-scored", type=int, default=64)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help="comma-separated configurations to time side by side")
    parser.add_argument("--worker", choices=CONFIGS)
    parser.add_argument("--gemm", action="store_true")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.rows, args.repeats)))
        return 0
    if args.gemm:
        print(json.dumps(gemm_rate()))
        return 0

    configs = [c for c in args.configs.split(",") if c]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown configuration(s): {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    command = (f"python benchmarks/bench.py --rows {args.rows} --repeats {args.repeats} "
               f"--memory-rows {args.memory_rows} --memory-scored {args.memory_scored}")
    if configs != list(CONFIGS):
        command += f" --configs {','.join(configs)}"
    if args.out != ROOT / "benchmarks" / "RESULTS.md":
        command += f" --out {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}"
    started = datetime.now(timezone.utc)
    gemm = _subprocess_json([__file__, "--gemm"]) or {}
    results = {}
    for name in configs:
        print(f"bench: {name}", file=sys.stderr)
        if name == "vllm" and not VLLM_PYTHON.exists():
            results[name] = {"error": f"{VLLM_PYTHON.relative_to(ROOT)} missing (make install-vllm)"}
            continue
        results[name] = _subprocess_json([__file__, "--worker", name, "--rows", str(args.rows),
                                          "--repeats", str(args.repeats)],
                                         python=str(VLLM_PYTHON) if name == "vllm" else sys.executable)
    memory = [memory_run(int(n), args.memory_scored) for n in args.memory_rows.split(",") if n]
    write_results(args.out, command, started, gemm, results, memory)
    print(args.out.read_text())
    return 0


def write_results(out: Path, command: str, started: datetime, gemm: dict[str, float],
                  results: dict[str, Any], memory: list[dict[str, Any]]) -> None:
    import torch

    from audit.version import __version__

    peak = max(gemm.values()) if gemm else float("nan")
    lines = [
        "# Benchmarks: scoring throughput, memory and roofline", "",
        f"Generated by `{command}` (`make bench` runs every configuration) on {started:%Y-%m-%d %H:%M} UTC.",
        f"Machine: {platform.machine()}, {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}, subaudit {__version__}. "
        "Shared machine: figures are medians of repeated runs; compare ratios within this file only.", "",
        "## fp32 GEMM rate (torch.mm, median of 5)", "", "| shape (m×k×n) | GFLOP/s |", "|---|---|",
    ]
    lines += [f"| {label} | {rate / 1e9:.1f} |" for label, rate in gemm.items()]
    lines += ["", f"Roofline used below: the best of these, {peak / 1e9:.1f} GFLOP/s.", "",
              "## Scoring throughput (same rows, reference + owl-teacher specs)", "",
              "| configuration | scored tokens/s | all tokens/s | from-scratch GFLOP/s | share of roofline "
              "(from-scratch) | share of roofline (minimal work) | vs naive | peak RSS (MB) | median s (runs) |",
              "|---|---|---|---|---|---|---|---|---|"]
    naive = results.get("naive") or {}
    naive_rate = (naive["scored_tokens"] / statistics.median(naive["times"])) if "times" in naive else None
    for name, result in results.items():
        if not result or "error" in result:
            lines.append(f"| {name} | not run: {(result or {}).get('error', 'no result')} | | | | | | | |")
            continue
        median = statistics.median(result["times"])
        rate = result["scored_tokens"] / median
        flops = result["useful_flops"] / median
        ratio = f"{rate / naive_rate:.2f}×" if naive_rate else "n/a"
        runs = ", ".join(f"{t:.2f}" for t in result["times"])
        lines.append(
            f"| {name} | {rate:.0f} | {result['all_tokens'] / median:.0f} | {flops / 1e9:.1f} | {flops / peak:.0%} "
            f"| {result['minimal_flops'] / median / peak:.0%} "
            f"| {ratio} | {result['peak_rss_mb']:.0f} | {median:.2f} ({runs}) |"
        )
    lines += ["", "From-scratch FLOPs: decoder over every prompt and completion token of every sequence, output "
              "layer at scored positions only. Minimal work: the same with each spec's shared prompt prefix "
              "(chat template + system prompt) computed once, the least an exact scorer must do; its share "
              "is a lower bound on the hardware share a configuration reaches. A configuration that skips "
              "work (prefix reuse) can pass 100 % of the roofline on the from-scratch count."]
    sample = next((r for r in results.values() if r and "error" not in r and r["name"] != "vllm"), None)
    if sample:
        lines += ["", f"Rows: the first {sample['rows']} rows of `{FIXTURE.relative_to(ROOT)}` × 2 specs = "
                  f"{sample['sequences']} sequences, {sample['scored_tokens']} scored completion tokens, "
                  f"{sample['all_tokens']} tokens in all; {sample['threads']} torch threads."]
    first, vllm = results.get("subaudit") or {}, results.get("vllm") or {}
    if "times" in first and "times" in vllm:
        speed = (vllm["scored_tokens"] / statistics.median(vllm["times"])) / (
            first["scored_tokens"] / statistics.median(first["times"]))
        lines += ["", f"vLLM backend against the transformers backend (subaudit), same rows, this run: {speed:.2f}× "
                  "the scored tokens/s. Both compute the decoder over every token; vLLM's prompt logprobs "
                  "also run the output layer and a full log-softmax at every prompt position, not only at "
                  "the scored ones, and it does not reuse the shared prompt prefix (prefix caching is off "
                  "for exact prompt logprobs)."]
    if not memory:
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return
    lines += ["", "## Peak memory against dataset size (real CLI, every row read)", "",
              "| rows in file | rows read | rows scored | peak RSS (MB) | wall s | exit | command |",
              "|---|---|---|---|---|---|---|"]
    for m in memory:
        lines.append(f"| {m['rows']:,} | {m['rows_read']} | {m['rows_scored']} | {m['peak_rss_mb']:.0f} | "
                     f"{m['seconds']:.0f} | {m['exit_code']} | `{m['command']}` |")
    if len(memory) >= 2 and memory[0]["peak_rss_mb"]:
        growth = memory[-1]["peak_rss_mb"] / memory[0]["peak_rss_mb"] - 1
        lines += ["", f"Peak RSS from {memory[0]['rows']:,} to {memory[-1]['rows']:,} rows: {growth:+.1%} "
                  "(target: within ±10 %)."]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
