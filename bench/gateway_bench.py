"""Gateway throughput and added latency against a static local upstream (nginx), with wrk.

The gateway is pinned to core 0, wrk to core 1 (as the peer baselines in shared/bench were measured).
Prints a table and, last, one JSON line:
  {"bench": "gateway", "state": "memory", "rps": ..., "p50_ms": ..., "p99_ms": ..., "added_p50_ms": ..., ...}

    python bench/gateway_bench.py                    # in-memory state, 15 s at 32 connections
    python bench/gateway_bench.py --redis redis://127.0.0.1:6379/0
    python bench/gateway_bench.py --soak 600         # memory over a 10-minute run (RSS sampled)
    python bench/gateway_bench.py --stream           # streams: a recorded 100-event SSE answer (bench/sse-100.txt)
    python bench/gateway_bench.py --workers 2 --redis redis://127.0.0.1:6379/0   # 2 processes (both cores)

Needs nginx and wrk (Debian: nginx-light wrk); installs them with apt-get when run as root.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
KEY = "sk-bench-master-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_tools() -> None:
    missing = [t for t in ("nginx", "wrk") if shutil.which(t) is None and not Path(f"/usr/sbin/{t}").exists()]
    if missing and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light", "wrk"], check=True, capture_output=True)
    elif missing:
        sys.exit(f"missing tools: {', '.join(missing)} (apt-get install nginx-light wrk)")


EVENTS = 100  # data events in bench/sse-100.txt (its [DONE] not counted)


def start_nginx(tmp: Path, port: int) -> Path:
    conf = (HERE / "nginx-mock.conf").read_text().replace("__PREFIX__", str(tmp)).replace("__PORT__", str(port))
    stream = tmp / "www" / "stream" / "v1" / "chat"
    stream.mkdir(parents=True)
    shutil.copy(HERE / "sse-100.txt", stream / "completions")
    tmp.chmod(0o755)  # nginx's workers (not root) read the recorded stream
    for d in stream.parents:
        if d == tmp:
            break
        d.chmod(0o755)
    (stream / "completions").chmod(0o644)
    path = tmp / "nginx.conf"
    path.write_text(conf)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    subprocess.run(["taskset", "-c", "1", nginx, "-c", str(path), "-p", str(tmp)], check=True)
    return path


def stop_nginx(conf: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    subprocess.run([nginx, "-c", str(conf), "-p", str(conf.parent), "-s", "stop"], check=False, capture_output=True)


def gateway_config(tmp: Path, upstream_port: int, redis_url: str | None) -> Path:
    import hashlib

    state = f"state: {{backend: redis, redis_url: '{redis_url}'}}" if redis_url else "state: {backend: memory}"
    cfg = f"""
client_keys:
  - {{name: bench, key_sha256: {hashlib.sha256(KEY.encode()).hexdigest()}}}
logging: {{level: {os.environ.get("QIAO_BENCH_LOG", "info")}, format: json}}
{state}
providers:
  mock: {{vendor: openai, api_key: sk-upstream, base_url: "http://127.0.0.1:{upstream_port}/v1",
         limits: {{rpm: 1000000, tpm: 1000000000}}}}
  mock-stream: {{vendor: openai, api_key: sk-upstream, base_url: "http://127.0.0.1:{upstream_port}/stream/v1",
                limits: {{rpm: 1000000, tpm: 1000000000}}}}
routes:
  mock-model:
    strategy: priority
    candidates: [{{provider: mock, model: gpt-4o-mini}}]
  mock-stream:
    strategy: priority
    candidates: [{{provider: mock-stream, model: gpt-4o-mini}}]
"""
    path = tmp / "gateway.yaml"
    path.write_text(cfg)
    return path


def start_gateway(cfg: Path, port: int, log: Path, workers: int = 1) -> subprocess.Popen[bytes]:
    cores = "0" if workers == 1 else f"0-{workers - 1}"
    cmd = ["taskset", "-c", cores, sys.executable, "-m", "balancer", "serve", "--config", str(cfg), "--port", str(port)]
    cmd += ["--workers", str(workers)] if workers > 1 else []
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"gateway did not start; see {log}")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, connections: int, seconds: float, script: str = "chat.lua") -> dict[str, float]:
    cmd = [
        "taskset",
        "-c",
        "1",
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{int(seconds)}s",
        "--latency",
        "-s",
        str(HERE / script),
        url,
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {p: float(v) * _UNITS[u] for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"], "non2xx": float(errors.group(1)) if errors else 0.0}


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process and its children (workers) have used (steadier than req/s on a
    shared machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(cpu_s(int(c)) for c in children)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def soak(url: str, pid: int, seconds: int) -> list[float]:
    """RSS every ~10% of a long run at 32 connections."""
    samples = [rss_mb(pid)]
    step = max(10, seconds // 10)
    for _ in range(seconds // step):
        wrk(url, 32, step)
        samples.append(rss_mb(pid))
    return samples


def passthrough(up_url: str, args: argparse.Namespace) -> dict[str, float]:
    """The bare aiohttp + uvloop + orjson pass-through, measured like the gateway (same machine, same run)."""
    port = free_port()
    cmd = [
        "taskset",
        "-c",
        "0",
        sys.executable,
        str(HERE / "passthrough.py"),
        "--port",
        str(port),
        "--upstream",
        up_url,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        wrk(url, args.connections, 3)
        return wrk(url, args.connections, args.duration)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=15)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--redis", metavar="URL", help="use the Redis state store at URL")
    ap.add_argument("--soak", type=int, default=0, metavar="SECONDS", help="also run this long, sampling RSS")
    ap.add_argument("--compare", action="store_true", help="also measure bench/passthrough.py the same way")
    ap.add_argument("--stream", action="store_true", help="measure streams (100 events each) instead of plain calls")
    ap.add_argument("--workers", type=int, default=1, help="gateway processes (> 1 needs --redis)")
    return ap.parse_args()


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    """The gateway under load behind nginx's mock upstream (and the passthrough, with --compare): the result row."""
    tmp = Path(tempfile.mkdtemp(prefix="qiao-bench-"))
    up_port, gw_port = free_port(), free_port()
    nginx_conf = start_nginx(tmp, up_port)
    gw = start_gateway(gateway_config(tmp, up_port, args.redis), gw_port, tmp / "gateway.log", args.workers)
    gw_url = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
    up_url = f"http://127.0.0.1:{up_port}/{'stream/' if args.stream else ''}v1/chat/completions"
    script = "stream.lua" if args.stream else "chat.lua"
    try:
        wrk(gw_url, args.connections, 3, script)  # warm-up
        rss0, cpu0 = rss_mb(gw.pid), cpu_s(gw.pid)
        load = wrk(gw_url, args.connections, args.duration, script)
        cpu_us = (cpu_s(gw.pid) - cpu0) * 1e6 / (load["rps"] * args.duration)
        one = wrk(gw_url, 1, 10, script)
        base = wrk(up_url, 1, 10, script)
        rss1 = rss_mb(gw.pid)
        samples = soak(gw_url, gw.pid, args.soak) if args.soak else []
    finally:
        gw.send_signal(signal.SIGTERM)
        gw.wait(timeout=30)
    try:
        ref = passthrough(up_url, args) if args.compare else None
    finally:
        stop_nginx(nginx_conf)
    result: dict[str, Any] = {
        "bench": "gateway",
        "state": "redis" if args.redis else "memory",
        "workers": args.workers,
        "connections": args.connections,
        "rps": round(load["rps"]),
        "cpu_us_per_request": round(cpu_us, 1),
        "p50_ms": round(load["p50_ms"], 3),
        "p99_ms": round(load["p99_ms"], 3),
        "p50_1conn_ms": round(one["p50_ms"], 3),
        "upstream_p50_1conn_ms": round(base["p50_ms"], 3),
        "added_p50_ms": round(one["p50_ms"] - base["p50_ms"], 3),
        "non2xx": int(load["non2xx"] + one["non2xx"]),
        "rss_mb": [round(rss0, 1), round(rss1, 1)] + [round(s, 1) for s in samples],
    }
    if args.stream:
        result["bench"], result["events_per_stream"] = "gateway-stream", EVENTS
        result["cpu_us_per_event"] = round(cpu_us / EVENTS, 2)
    if ref is not None:
        result["passthrough_rps"] = round(ref["rps"])
        result["ratio_to_passthrough"] = round(load["rps"] / ref["rps"], 3)
    return result


def main() -> None:
    args = _args()
    ensure_tools()
    result = _measure(args)
    print(f"{'state':>8} {'req/s@' + str(args.connections):>10} {'p50':>8} {'p99':>8} {'p50@1':>8} {'added':>8}")
    print(
        f"{result['state']:>8} {result['rps']:>10} {result['p50_ms']:>8} {result['p99_ms']:>8} "
        f"{result['p50_1conn_ms']:>8} {result['added_p50_ms']:>8}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
