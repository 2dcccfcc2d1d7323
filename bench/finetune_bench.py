"""Benchmark: ``finetune convert`` throughput against the msgspec decode+encode ceiling.

Generates a synthetic OpenAI fine-tuning file (multi-turn, Chinese and English, some tool calls,
weights, duplicates), then measures:

- ceiling: read the file line by line, ``msgspec.json.decode`` each line (generic), re-encode with
  ``encode_into`` into a reused buffer, write it out — the least any converter must do;
- convert: ``python -m finetune convert`` on the same file in a child process (one core), whose
  peak RSS is reported.

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

import msgspec

ROOT = Path(__file__).resolve().parent.parent
ZH = "你好请问今天的天气怎么样我们需要一个详细的计划来完成这个项目，包括时间表、预算和人员安排。"
EN = "The quick brown fox jumps over the lazy dog while the project team reviews the quarterly plan."
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def _text(rng: random.Random, n: int) -> str:
    src = ZH if rng.random() < 0.6 else EN
    start = rng.randrange(len(src) // 2)
    return "".join(src[start:] + "！" for _ in range(n))[: n * 40]


def _line(rng: random.Random) -> dict[str, object]:
    msgs: list[dict[str, object]] = [{"role": "system", "content": "你是一个乐于助人的助手。"}]
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
        msgs.append({"role": "assistant", "content": _text(rng, rng.randint(4, 16)), "weight": 1})
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


def ceiling(src: Path, dst: Path) -> float:
    """Seconds to decode and re-encode every line with msgspec (generic objects)."""
    dec, enc, buf = msgspec.json.Decoder(), msgspec.json.Encoder(), bytearray()
    start = time.perf_counter()
    with src.open("rb") as fin, dst.open("wb", buffering=1 << 20) as fout:
        for line in fin:
            enc.encode_into(dec.decode(line), buf)
            buf.extend(b"\n")
            fout.write(buf)
    return time.perf_counter() - start


def convert(src: Path, dst: Path, target: str) -> tuple[float, float]:
    """Seconds for ``finetune convert`` in a child process, and the child's peak RSS in MB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "finetune", "convert", "--to", target, str(src), "-o", str(dst), "-q"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--target", default="bailian")
    ap.add_argument("--runs", type=int, default=3, help="best of N runs each")
    ap.add_argument("--keep", type=Path, help="work in this directory and keep the files")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        src = work / "bench-in.jsonl"
        lines = generate(src, args.mb)
        size_mb = src.stat().st_size / 1e6
        # Best of --runs for both, to keep a shared machine's noise out of the ratio.
        t_ceiling = min(ceiling(src, work / "bench-ceiling.jsonl") for _ in range(args.runs))
        runs = [convert(src, work / "bench-out.jsonl", args.target) for _ in range(args.runs)]
        t_convert, rss = min(t for t, _ in runs), max(r for _, r in runs)
    ceiling_mb_s, mb_s = size_mb / t_ceiling, size_mb / t_convert
    print(f"{'input':<28}{size_mb:>10.1f} MB  {lines} lines")
    print(f"{'msgspec decode+encode':<28}{t_ceiling:>10.2f} s  {ceiling_mb_s:>8.1f} MB/s")
    print(f"{'finetune convert ' + args.target:<28}{t_convert:>10.2f} s  {mb_s:>8.1f} MB/s")
    print(f"{'ratio':<28}{mb_s / ceiling_mb_s:>10.2f}")
    print(f"{'convert peak RSS':<28}{rss:>10.1f} MB")
    result = {
        "bench": "finetune_convert",
        "target": args.target,
        "input_mb": round(size_mb, 1),
        "mb_s": round(mb_s, 1),
        "ceiling_mb_s": round(ceiling_mb_s, 1),
        "ratio": round(mb_s / ceiling_mb_s, 3),
        "max_rss_mb": round(rss, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
