"""``Idempotency-Key`` on ``POST /v1/chat/completions``: a request repeated with the same key (by the same
client key) gets the first one's answer again instead of reaching a vendor, so a client that crashed, or
lost its connection, after the gateway sent its request pays once when it retries.

A key is scoped to the ``Authorization`` it came with (another client's key cannot read the answer), and a
repeat is answered only after ``admit`` (the client key checked, the body read within its timer): a key revoked
since gets its 401, not the kept answer. A repeat whose body differs from the first's is refused (422
``idempotency_key_reused``): it is another request, and answering it with the first's reply would be wrong
(the same JSON content in other bytes, as another client encodes it, is the same request; the digest parses the
body once more, only for a request with the header whose reply is kept or replayed). The
replies live where the shared state lives (:mod:`balancer.state.replies`: Redis when configured), so a retry
that lands on another worker or instance is answered too. One request at a time answers a key: a second one
that arrives while the first is in flight waits for it (in this process, on the first's future; elsewhere,
asking the store every 20-500 ms), at most ``HOLD_S``, when the first's claim lapses. Only whole 200 replies
are kept (a stream, a refusal or a failure is not: the retry is sent again), for ``TTL_S``; replies over
``MAX_BODY`` bytes are not kept. A replay carries ``x-qiao-idempotent-replay: true`` and is marked on the
request (``REPLAYED``: its route), so it gets its own ``request_done`` line (``"replay": true``, no attempts)
and nothing is booked again. With Redis a request with the header costs two more round trips (the claim, then
the reply kept or the claim given up), one without none; and Redis holds every kept reply for ``TTL_S`` with
no count bound (100k answers of 2 KB: ~200 MB), where the memory store keeps at most 20,000.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from balancer.errors import GatewayError
from balancer.state.replies import Kept, MemoryReplies, ReplyStore

HEADER = "Idempotency-Key"
TTL_S = 24 * 3600.0
HOLD_S = 900.0  # a claim outlives a request at the default limits (attempts start within 120 s, last 300 s)
MAX_BODY = 1 << 20
POLL_S = (0.02, 0.5)  # asking the store again while another instance answers the key: from, doubling up to
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Admit = Callable[[web.Request], Awaitable[bytes]]  # checks the client key, returns the body (GatewayError if not)
REPLAYED = web.RequestKey("idempotent_replay", str)  # set on a request answered from a kept reply: its route
_KEEP = ("Content-Type", "x-qiao-provider", "x-qiao-model", "x-qiao-route", "x-qiao-attempts")


class Replays:
    """The answers kept by idempotency key (in ``replies``), and this process's requests in flight under one."""

    def __init__(
        self, admit: Admit, replies: ReplyStore | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.admit = admit
        self.replies: ReplyStore = replies or MemoryReplies()
        self.clock = clock
        self.pending: dict[str, asyncio.Future[None]] = {}

    def wrap(self, handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            key = request.headers.get(HEADER, "")
            if not key or len(key) > 256:
                return await handler(request)
            # Header bytes that are not UTF-8 arrive as surrogate escapes: hashed as the bytes they stand for.
            scoped = f"{request.headers.get('Authorization', '')}\0{key}".encode("utf-8", "surrogateescape")
            scope = hashlib.sha256(scoped).hexdigest()
            body = await self.admit(request)
            token = f"P:{uuid.uuid4().hex}"
            kept = await self._claim(scope, token)
            if kept is not None:
                _same_request(kept, body)
                request[REPLAYED] = kept.headers.get("x-qiao-route", "")
                return web.Response(
                    body=kept.body, status=kept.status, headers={**kept.headers, "x-qiao-idempotent-replay": "true"}
                )
            fut = self.pending[scope] = asyncio.get_running_loop().create_future()
            reply: Kept | None = None
            try:
                resp = await handler(request)
                reply = _keepable(resp, body)
                return resp
            finally:
                await self.replies.keep(scope, token, reply, self.clock(), TTL_S)
                if self.pending.get(scope) is fut:  # not when the store was out of reach and another went too
                    del self.pending[scope]
                fut.set_result(None)

        return wrapped

    async def _claim(self, scope: str, token: str) -> Kept | None:
        """The kept reply, or None once this request holds the key's claim: waiting meanwhile for a request in
        flight under it, here on its future, elsewhere by asking the store again, never past ``HOLD_S``."""
        deadline, pause = self.clock() + HOLD_S, POLL_S[0]
        while True:
            waiting = self.pending.get(scope)
            if waiting is not None:
                await asyncio.shield(waiting)
                continue
            got = await self.replies.claim(scope, token, self.clock(), HOLD_S)
            if got is True or (got is False and self.clock() >= deadline):
                return None  # past the deadline the holder's claim has lapsed too: answer afresh
            if isinstance(got, Kept):
                return got
            await asyncio.sleep(pause)
            pause = min(2 * pause, POLL_S[1])


def digest(body: bytes) -> str:
    """What makes two requests the same: their JSON's content (keys sorted, escapes and spacing as one encoder
    writes them: the openai SDK and another client send one request in different bytes), else the bytes."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # not JSON, or deeper than orjson writes (254 levels)
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


def _same_request(kept: Kept, body: bytes) -> None:
    """Refuse a repeat whose body is not the first's (a reply kept before digests were kept has none)."""
    if kept.request and kept.request != digest(body):
        raise GatewayError(
            422,
            "This Idempotency-Key was first used with a different request body. A retry must send the same "
            "body; use a new key for a new request.",
            code="idempotency_key_reused",
            param=HEADER,
        )


def _keepable(resp: web.StreamResponse, body: bytes) -> Kept | None:
    """A whole 200 reply under MAX_BODY bytes, as kept (with its request's :func:`digest`); anything else (a stream,
    a refusal, a failure) is not."""
    if not isinstance(resp, web.Response) or resp.prepared or resp.status != 200:
        return None
    reply = resp.body
    if not isinstance(reply, bytes) or len(reply) > MAX_BODY:
        return None
    return Kept(resp.status, {h: resp.headers[h] for h in _KEEP if h in resp.headers}, reply, digest(body))
