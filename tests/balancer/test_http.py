"""The lean upstream HTTP client against real servers: keep-alive, chunked and close-delimited
bodies, stale connections, invalid HTTP, TLS, abandoned streams and connection bursts."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from balancer.http import Endpoint, Pool, UpstreamConnectionError
from tests.conftest import start_site


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[object]]]:
    """An aiohttp app that records which connection served each request."""
    seen: list[object] = []

    async def echo(request: web.Request) -> web.StreamResponse:
        seen.append(request.transport)
        body = await request.read()
        if request.query.get("chunked"):
            resp = web.StreamResponse()
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for part in (b"one,", b"two,", b"three"):
                await resp.write(part)
                await asyncio.sleep(0.01)
            await resp.write_eof()
            return resp
        return web.Response(body=b"echo:" + body, headers={"X-Test": "yes"})

    app = web.Application()
    app.router.add_post("/echo", echo)
    runner, url = await start_site(app, shutdown_timeout=0.1)
    yield url, seen
    await runner.cleanup()


async def test_keep_alive_reuses_one_connection(server: tuple[str, list[object]]) -> None:
    """Sequential requests to one host share a single pooled connection; headers come lower-cased."""
    url, seen = server
    pool = Pool()
    ep = Endpoint.post(url + "/echo", {"Content-Type": "application/json"})
    for i in range(5):
        r = await pool.post(ep, b'{"n": %d}' % i, connect_s=1)
        assert r.status == 200 and r.headers["x-test"] == "yes"
        assert await r.read() == b'echo:{"n": %d}' % i
    assert len({id(t) for t in seen}) == 1
    await pool.close()


async def test_chunked_body_streams_in_pieces(server: tuple[str, list[object]]) -> None:
    """A chunked reply is readable piece by piece as it arrives, then ends with b''."""
    url, _ = server
    pool = Pool()
    r = await pool.post(Endpoint.post(url + "/echo?chunked=1", {}), b"", connect_s=1)
    pieces = []
    while piece := await r.readany():
        pieces.append(piece)
    assert b"".join(pieces) == b"one,two,three" and len(pieces) >= 2
    await pool.close()


async def raw_server(handler: object) -> tuple[asyncio.Server, int]:
    srv = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
    return srv, srv.sockets[0].getsockname()[1]


async def test_stale_pooled_connection_is_retried_once() -> None:
    """When the server closed an idle keep-alive connection, the next request goes out on a fresh one."""
    served = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(2)
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
        await writer.drain()
        writer.close()  # closes right after answering, although it said keep-alive

    srv, port = await raw_server(handle)
    pool = Pool()
    ep = Endpoint.post(f"http://127.0.0.1:{port}/x", {})
    for _ in range(3):
        r = await pool.post(ep, b"{}", connect_s=1)
        assert await r.read() == b"ok"
        await asyncio.sleep(0.01)  # the close reaches us, or not: both must work
    assert served == 3
    await pool.close()
    srv.close()


async def test_close_delimited_body_and_invalid_http() -> None:
    """A body ended by the connection's close is read whole; garbage instead of HTTP is a connection error."""

    async def good(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello ")
        await writer.drain()
        writer.write(b"world")
        writer.close()

    async def bad(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        writer.close()

    srv1, p1 = await raw_server(good)
    srv2, p2 = await raw_server(bad)
    pool = Pool()
    r = await pool.post(Endpoint.post(f"http://127.0.0.1:{p1}/", {}), b"", connect_s=1)
    assert await r.read() == b"hello world"
    with pytest.raises(UpstreamConnectionError):
        await pool.post(Endpoint.post(f"http://127.0.0.1:{p2}/", {}), b"", connect_s=1)
    with pytest.raises(ConnectionRefusedError):
        await pool.post(Endpoint.post("http://127.0.0.1:9/", {}), b"", connect_s=1)
    await pool.close()
    srv1.close()
    srv2.close()


async def test_abandoned_reply_does_not_poison_the_pool(server: tuple[str, list[object]]) -> None:
    """Closing a half-read reply drops its connection; later requests are unaffected."""
    url, seen = server
    pool = Pool()
    r = await pool.post(Endpoint.post(url + "/echo?chunked=1", {}), b"", connect_s=1)
    await r.readany()
    r.close()
    r.close()  # twice is harmless
    ep = Endpoint.post(url + "/echo", {})
    for _ in range(3):
        r2 = await pool.post(ep, b"x", connect_s=1)
        assert await r2.read() == b"echo:x"
    r.release()  # a stale handle cannot release someone else's exchange
    r3 = await pool.post(ep, b"y", connect_s=1)
    assert await r3.read() == b"echo:y"
    assert len({id(t) for t in seen}) == 2
    await pool.close()


async def test_connection_burst(server: tuple[str, list[object]]) -> None:
    """300 simultaneous requests all succeed: handshakes are gated, freed connections reused."""
    url, _ = server
    pool = Pool(max_connecting=16)
    ep = Endpoint.post(url + "/echo", {})

    async def one(i: int) -> bytes:
        r = await pool.post(ep, str(i).encode(), connect_s=5)
        return await r.read()

    out = await asyncio.gather(*(one(i) for i in range(300)))
    assert out == [b"echo:%d" % i for i in range(300)]
    await pool.close()


async def test_tls(tmp_path: Path) -> None:
    """https upstreams work through the standard ssl module (self-signed CA trusted by the test)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=b"secure " + await request.read())

    app = web.Application()
    app.router.add_post("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "localhost", 0, ssl_context=server_ctx)
    await site.start()
    port = runner.addresses[0][1]
    pool = Pool(ssl_context=ssl.create_default_context(cafile=str(cert)))
    r = await pool.post(Endpoint.post(f"https://localhost:{port}/", {}), b"hi", connect_s=2)
    assert r.status == 200 and await r.read() == b"secure hi"
    await pool.close()
    await runner.cleanup()
