"""Benchmark: ``finetune convert`` throughput against the msgspec decode+encode ceiling.

Generates a synthetic OpenAI fine-tuning file — 1–4 turns with a system prompt, 60% Chinese text,
a tool call in ~10% of turns (~25% of lines), ``weight`` 0/1 on the answers of 20% of lines, 2%
exact duplicates, ~3.3 KB per line — then measures:

- ceiling: read the file line by line, ``msgspec.json.decode`` each line (generic), re-encode with
  ``encode_into`` into a reused buffer, write it out — the least any converter must do;
- convert: ``python -m finetune convert`` on the same file in a child process (one core), whose
  peak RSS is reported.

MB/s and the ratio use CPU time (user + system) of the single-threaded work — throughput on one
core, robust to other load on a shared machine; the wall-clock ratio is printed as well.

Files live in ``/dev/shm`` when it exists, so disk write-back does not blur the comparison.
Usage: ``python bench/finetune_bench.py [--mb 200] [--target bailian] [--runs 3] [--keep DIR]``.
The convert time includes the child's interpreter start-up (about 0.1 s).
Prints a table, then a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import msgspec

ROOT = Path(__file__).resolve().parent.parent
ZH = "你好请问今天的天气怎么样我们需要一个详细的计划来完成这个项目，包括时间表、预算和人员安排。"
EN = "The quick brown fox jumps over the lazy dog while the project team reviews the quarterly plan."
#: Share of lines whose answers carry OpenAI's optional ``weight`` (transcripts never do).
WEIGHTED_SHARE = 0.2
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def _text(rng: random.Random, n: int) -> str:
    src = ZH if rng.random() < 0.6 else EN
    start = rng.randrange(len(src) // 2)
    return "".join(src[start:] + "！" for _ in range(n))[: n * 40]


def _line(rng: random.Random) -> dict[str, object]:
    msgs: list[dict[str, object]] = [{"role": "system", "content": "你是一个乐于助人的助手。"}]
    weighted = rng.random() < WEIGHTED_SHARE
    for turn in range(rng.randint(1, 4)):
        msgs.append({"role": "user", "content": _text(rng, rng.randint(2, 8))})
        if rng.random() < 0.1:
            call = {
                "id": f"call_{turn}",
                "type": "function",
                "function": {"name": "get_weather", "arguments": "{}"},
            }
            msgs.append({"role": "assistant", "tool_calls": [call]})
            msgs.append({"role": "tool", "tool_call_id": f"call_{turn}", "content": '{"temp_c": 14}'})
        answer: dict[str, object] = {"role": "assistant", "content": _text(rng, rng.randint(4, 16))}
        if weighted:
            answer["weight"] = rng.choice((0, 1, 1))
        msgs.append(answer)
    line: dict[str, object] = {"messages": msgs}
    if any("tool_calls" in m for m in msgs):
        line["tools"] = [TOOL]
    return line


def generate(path: Path, megabytes: int, seed: int = 1) -> int:
    """Write about ``megabytes`` MB of synthetic lines; return the line count."""
    rng = random.Random(seed)
    enc = msgspec.json.Encoder()
    target = megabytes * 1_000_000
    written = lines = 0
    pool = [enc.encode(_line(rng)) + b"\n" for _ in range(2000)]
    with path.open("wb") as f:
        while written < target:
            line = pool[rng.randrange(len(pool))] if rng.random() < 0.02 else enc.encode(_line(rng)) + b"\n"
            f.write(line)
            written += len(line)
            lines += 1
    return lines


class Timing(NamedTuple):
    """Wall-clock and CPU (user + system) seconds of one run."""

    wall: float
    cpu: float


def ceiling(src: Path, dst: Path) -> Timing:
    """Decode and re-encode every line with msgspec (generic objects), in this process."""
    dec, enc, buf = msgspec.json.Decoder(), msgspec.json.Encoder(), bytearray()
    start, cpu = time.perf_counter(), time.process_time()
    with src.open("rb") as fin, dst.open("wb", buffering=1 << 20) as fout:
        for line in fin:
            enc.encode_into(dec.decode(line), buf)
            buf.extend(b"\n")
            fout.write(buf)
    return Timing(time.perf_counter() - start, time.process_time() - cpu)


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def convert(src: Path, dst: Path, target: str) -> Timing:
    """``finetune convert`` in a child process (start-up included)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "finetune", "convert", "--to", target, str(src), "-o", str(dst), "-q"]
    cmd += ["--max-reject", "1"]  # measure the conversion whatever a target rejects (e.g. tools)
    start, cpu = time.perf_counter(), _child_cpu()
    subprocess.run(cmd, check=True, env=env, stderr=subprocess.DEVNULL)
    return Timing(time.perf_counter() - start, _child_cpu() - cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--target", default="bailian")
    ap.add_argument("--runs", type=int, default=3, help="best of N runs each")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep the files")
    args = ap.parse_args()
    shm = Path("/dev/shm")  # memory-backed when present: measure conversion, not disk write-back
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        src = work / "bench-in.jsonl"
        lines = generate(src, args.mb)
        size_mb = src.stat().st_size / 1e6
        # Interleaved, best of --runs each: a shared machine's noise hits both sides alike.
        ceil_runs: list[Timing] = []
        conv_runs: list[Timing] = []
        for _ in range(args.runs):
            ceil_runs.append(ceiling(src, work / "bench-ceiling.jsonl"))
            conv_runs.append(convert(src, work / "bench-out.jsonl", args.target))
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    best = {
        "ceiling": Timing(min(t.wall for t in ceil_runs), min(t.cpu for t in ceil_runs)),
        "convert": Timing(min(t.wall for t in conv_runs), min(t.cpu for t in conv_runs)),
    }
    print(f"{'input':<30}{size_mb:>9.1f} MB   {lines} lines")
    print(f"{'':<30}{'wall s':>9} {'MB/s':>8}  {'cpu s':>8} {'MB/s':>8}")
    for name, t in best.items():
        label = "msgspec decode+encode" if name == "ceiling" else f"finetune convert --to {args.target}"
        print(f"{label:<30}{t.wall:>9.2f} {size_mb / t.wall:>8.1f}  {t.cpu:>8.2f} {size_mb / t.cpu:>8.1f}")
    mb_s, ceiling_mb_s = size_mb / best["convert"].cpu, size_mb / best["ceiling"].cpu
    print(f"{'ratio (cpu, one core)':<30}{mb_s / ceiling_mb_s:>9.2f}")
    print(f"{'ratio (wall)':<30}{best['ceiling'].wall / best['convert'].wall:>9.2f}")
    print(f"{'convert peak RSS':<30}{rss:>9.1f} MB")
    result = {
        "bench": "finetune_convert",
        "target": args.target,
        "input_mb": round(size_mb, 1),
        "mb_s": round(mb_s, 1),
        "ceiling_mb_s": round(ceiling_mb_s, 1),
        "ratio": round(mb_s / ceiling_mb_s, 3),
        "wall_ratio": round(best["ceiling"].wall / best["convert"].wall, 3),
        "max_rss_mb": round(rss, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
