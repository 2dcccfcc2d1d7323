"""The Redis store behind Sentinel, Redis Cluster and TLS URLs, each against real redis-server processes."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from balancer.config import Limits
from balancer.config_failover import Breaker
from balancer.state import keys
from balancer.state.redis import RedisStore
from tests.redis_server import RedisServer, free_port

BREAKER = Breaker()


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        p.kill()
        p.wait(timeout=10)


async def exercise(store: RedisStore) -> None:
    """Leases, a cooldown and its mirror, and the batched accounting work through this topology."""
    await store.start()
    try:
        now = time.time()
        assert await store.status() == "ok"
        adm = await store.admit("acct", "m", Limits(rpm=100, tpm=10_000), 10, BREAKER, now)
        assert adm.ok and store.round_trips >= 1
        await store.settle(adm, 8, "ok", 1.0, BREAKER, now)
        assert await store.cool_down("acct", now + 30, "rate_limited", now) == now + 30
        assert not store.health("acct", "m", now).available
        await store.flush()
        assert store.flushes >= 1 and not store.degraded
        usage = keys.usage("acct", time.strftime("%Y%m%d", time.gmtime(now)))
        assert await store.client.hgetall(usage) == {"requests": "1", "tokens": "8"}  # applied once (apply.lua)
    finally:
        await store.close()


async def test_sentinel(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """A redis+sentinel:// URL finds the primary through Sentinel."""
    primary = RedisServer(tmp_path / "primary").start()
    procs.append(primary.proc)  # type: ignore[arg-type]
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor qiao 127.0.0.1 {primary.port} 1\n")
    procs.append(
        subprocess.Popen(
            ["redis-server", str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    )
    wait_port(port)
    await asyncio.sleep(0.3)
    await exercise(RedisStore.from_url(f"redis+sentinel://127.0.0.1:{port}/qiao/0"))


async def test_cluster(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """A redis+cluster:// URL works on a 3-node Redis Cluster (one slot per Lua call via hash tags)."""
    ports: list[int] = []
    while len(ports) < 3:  # a node's bus port is port + 10000: keep it a valid port
        port = free_port()
        if port < 55000 and port + 10000 not in ports:
            ports.append(port)
    for port in ports:
        d = tmp_path / f"node{port}"
        d.mkdir()
        procs.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", str(d / "nodes.conf"), "--save", "", "--appendonly", "no", "--dir", str(d)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
    for port in ports:
        wait_port(port)
    subprocess.run(
        ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports], "--cluster-replicas", "0",
         "--cluster-yes"], check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    for _ in range(100):
        out = subprocess.run(["redis-cli", "-p", str(ports[0]), "cluster", "info"], capture_output=True, text=True)
        if "cluster_state:ok" in out.stdout:
            break
        await asyncio.sleep(0.1)
    await exercise(RedisStore.from_url(f"redis+cluster://127.0.0.1:{ports[0]}"))


async def test_tls(tmp_path: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """A rediss:// URL talks TLS to a TLS-only redis-server (certificate checked against its CA)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days",
         "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    procs.append(subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--tls-cert-file", str(cert),
         "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ))  # fmt: skip
    wait_port(port)
    await exercise(RedisStore.from_url(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}"))
