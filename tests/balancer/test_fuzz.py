"""Fuzzing the two parsers that read bytes from outside: the request decoder and the upstream SSE reader."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp import web
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from balancer import http, upstream, wire
from balancer.errors import GatewayError
from tests.conftest import start_site

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# ---- the request decoder ----------------------------------------------------------------------------

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, 2, 128, 129, -1, 1e308, -1e308, 0.5]),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["role", "content", "x"]), inner, max_size=3)
    ),
    max_leaves=12,
)
messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "wizard", "", 5]), "content": json_values})
    | json_values,
    max_size=3,
)
NUMERIC = ["n", "temperature", "top_p", "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty"]
bodies = st.fixed_dictionaries(
    {"model": st.text(min_size=1, max_size=8) | json_values, "messages": messages | json_values},
    optional={
        **{name: numbers | json_values for name in NUMERIC},
        "stream": st.booleans() | json_values,
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}) | json_values,
        "tools": st.lists(st.fixed_dictionaries({"type": st.just("function")}), max_size=2) | json_values,
        "input": json_values,
    },
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A request body made of the fields the gateway reads, with bytes inserted, flipped or cut, mostly where a
    value starts or inside a string: invalid UTF-8, a lone surrogate escape, a nest deeper than the decoder
    goes, a number too large for a float, a broken structure."""
    data = bytearray(json.dumps(draw(bodies)).encode())
    for _ in range(draw(st.integers(1, 3))):
        marks = [i + 1 for i, c in enumerate(data) if c in b'":[,'] or [0]
        at = draw(st.sampled_from(marks) | st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "insert", "cut", "flip"]))
        junk = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"[" * 3000, b"1e999", b"\\ud800", b"}", b'"']))
        if op == "insert":
            data[at:at] = junk
        elif op == "cut":
            del data[at:]
        elif at < len(data):
            data[at] ^= 0x80
    return bytes(data)


def _decode(data: bytes, kind: str) -> wire.RequestView | None:
    """The API's decode path for one body: the view, or None when it was refused with a clean 4xx."""
    try:
        body = wire.decode_body(data)
        return wire.chat_view(body, len(data)) if kind == "chat" else wire.embeddings_view(body, len(data))
    except GatewayError as e:
        assert 400 <= e.status < 500 and e.message
        assert json.loads(e.body())["error"]["type"] == "invalid_request_error"  # encodable, whatever the input
        return None


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), mutated()), kind=st.sampled_from(["chat", "embeddings"]))
def test_request_decoder_never_raises_anything_but_a_4xx(data: bytes, kind: str) -> None:
    """For any bytes, decoding a request and reading its view either succeeds or raises a GatewayError with a
    4xx whose OpenAI body can be encoded: never another exception (RecursionError, UnicodeError...)."""
    view = _decode(data, kind)
    if view is not None:
        assert view.model and 1 <= view.n <= wire.MAX_N
        assert view.temperature is None or 0 <= view.temperature <= 2


@FUZZ
@given(body=bodies)
def test_a_valid_body_decodes_to_the_values_sent(body: dict[str, Any]) -> None:
    """A body that passes validation is seen with the values the client sent (nothing coerced)."""
    data = json.dumps(body).encode()
    view = _decode(data, "chat")
    if view is None:
        return
    assert view.model == body["model"]
    assert view.n == (body.get("n") or 1)
    assert view.temperature == body.get("temperature")
    assert view.tools == bool(body.get("tools"))


# ---- the SSE reader, over a real socket -------------------------------------------------------------

payloads = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), min_size=1, max_size=40
).filter(lambda p: not p.startswith(" "))
events = st.lists(
    st.tuples(
        payloads,
        st.sampled_from(["data: ", "data:"]),  # Spark sends no space
        st.lists(st.sampled_from([": keep-alive", "event: message", "id: 7", "retry: 100", ":"]), max_size=2),
    ),
    min_size=0,
    max_size=6,
)


def _stream(evs: list[tuple[str, str, list[str]]], eol: str, blank_lines: int, tail_newline: bool) -> bytes:
    lines: list[str] = []
    for payload, prefix, others in evs:
        lines += others + [prefix + payload] + [""] * blank_lines
    text = eol.join(lines)
    return (text + eol if tail_newline or not lines else text).encode()


@pytest.fixture
async def sse_server() -> AsyncIterator[tuple[str, dict[str, list[bytes]]]]:
    """A real HTTP server answering POST /<id> with the pieces registered under that id, each written and
    flushed on its own (chunked), a moment apart."""
    pieces: dict[str, list[bytes]] = {}

    async def serve(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for piece in pieces.pop(request.match_info["id"]):
            await resp.write(piece)
            await asyncio.sleep(0.0005)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/{id}", serve)
    runner, url = await start_site(app)
    yield url, pieces
    await runner.cleanup()


_ids = itertools.count()


@FUZZ
@given(
    evs=events,
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    blank_lines=st.integers(0, 2),
    tail_newline=st.booleans(),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
    bom=st.booleans(),
)
@example(
    evs=[("\x0c", "data: ", []), ("0", "data: ", [])], eol="\n", blank_lines=0, tail_newline=False, cuts=[], bom=False
)
async def test_sse_reader_yields_every_payload_however_the_bytes_are_split(
    sse_server: tuple[str, dict[str, list[bytes]]],
    evs: list[tuple[str, str, list[str]]],
    eol: str,
    blank_lines: int,
    tail_newline: bool,
    cuts: list[int],
    bom: bool,
) -> None:
    """Over a real socket, SSEReader yields exactly the data payloads of well-formed events (LF, CRLF or CR line
    ends, with or without a byte-order mark first, with or without the space after 'data:', comments and other
    fields in between, the last line with or without its newline), whatever the points at which the body is
    cut into network writes. Without blank lines between events each data line is an event of its own, unless
    it starts a JSON object or array it does not finish, or holds JSON whitespace alone (then, as the SSE spec
    says, the next line goes on with it: the first case is the next test's); any other character, a form feed
    too, is data."""
    assume(blank_lines or not any(_cut_short(p) or not p.strip(" \t") for p, _, _ in evs[:-1]))
    body = b"\xef\xbb\xbf" * bom + _stream(evs, eol, blank_lines, tail_newline)
    got = await _read_all(sse_server, _cut(body, cuts))
    assert got == [payload for payload, _, _ in evs]


def _cut_short(payload: str) -> bool:
    """The start of a JSON object or array (after JSON whitespace), cut short."""
    try:
        msgspec.json.decode(payload)
    except msgspec.DecodeError as e:
        return payload.lstrip(" \t")[:1] in ("{", "[") and "truncated" in str(e)
    return False


def _cut(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    return [body[a:b] for a, b in itertools.pairwise(points) if b > a]


async def _read_all(server: tuple[str, dict[str, list[bytes]]], pieces: list[bytes]) -> list[str]:
    """Every payload an SSEReader yields for a body sent in these pieces by the real server."""
    url, bodies = server
    key = str(next(_ids))
    bodies[key] = pieces
    pool = http.Pool()
    try:
        resp = await pool.post(http.Endpoint.post(f"{url}/{key}", {}), b"{}", connect_s=2)
        reader, got = upstream.SSEReader(resp), []
        while (payload := await reader.next(2.0)) is not None:
            got.append(payload.decode())
    finally:
        await pool.close()
    return got


@FUZZ
@given(
    objs=st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=4), max_size=5),
    indent=st.sampled_from([None, 0, 2]),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    blank_lines=st.integers(0, 2),
    prefix=st.sampled_from(["data: ", "data:"]),
    others=st.sampled_from([[], [": keep-alive"], ["id: 7", "event: message"]]),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
)
async def test_sse_reader_joins_an_events_data_lines(
    sse_server: tuple[str, dict[str, list[bytes]]],
    objs: list[dict[str, Any]],
    indent: int | None,
    eol: str,
    blank_lines: int,
    prefix: str,
    others: list[str],
    cuts: list[int],
) -> None:
    """Over a real socket, each JSON object written over several data lines (pretty-printed, comments and
    other fields among its lines), its event ended by a blank line, is yielded as one payload: the same JSON,
    on one line; and written on one line each without blank lines between (a vendor dialect), one per line."""
    assume(blank_lines or indent is None)
    lines: list[str] = []
    for obj in objs:
        for i, line in enumerate(json.dumps(obj, indent=indent, ensure_ascii=False).split("\n")):
            lines += [*others, prefix + line] if i % 2 else [prefix + line]
        lines += [""] * blank_lines
    body = "".join(line + eol for line in lines).encode()
    got = await _read_all(sse_server, _cut(body, cuts))
    assert [json.loads(g) for g in got] == objs
    assert not any("\n" in g or "\r" in g for g in got), got
