"""``Idempotency-Key`` on ``POST /v1/chat/completions``: a request repeated with the same key (by the same
client key) gets the first one's answer again instead of reaching a vendor, so a client that crashed, or
lost its connection, after the gateway sent its request pays once when it retries.

A key is scoped to the ``Authorization`` it came with (another client's key cannot read the answer). A
second request that arrives while the first is still in flight waits for it. Only whole 200 replies are kept
(a stream, a refusal or a failure is not: the retry is sent again), for ``TTL_S``, at most ``MAX_ENTRIES``
(the oldest go first), replies over ``MAX_BODY`` bytes are not kept. The store is this process's memory: with
``serve --workers N`` a retry that lands on another worker is sent again. A replay carries
``x-qiao-idempotent-replay: true`` and is marked on the request (``REPLAYED``: its route), so it gets its own
``request_done`` line (``"replay": true``, no attempts) and nothing is booked again.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiohttp import web

HEADER = "Idempotency-Key"
TTL_S = 24 * 3600.0
MAX_ENTRIES = 20_000
MAX_BODY = 1 << 20
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REPLAYED = web.RequestKey("idempotent_replay", str)  # set on a request answered from a kept reply: its route
_KEEP = ("Content-Type", "x-qiao-provider", "x-qiao-model", "x-qiao-route", "x-qiao-attempts")


class Replays:
    """The answers kept by idempotency key, and the requests in flight under one."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.done: OrderedDict[str, tuple[float, int, dict[str, str], bytes]] = OrderedDict()
        self.pending: dict[str, asyncio.Future[None]] = {}

    def wrap(self, handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            key = request.headers.get(HEADER, "")
            if not key or len(key) > 256:
                return await handler(request)
            scope = hashlib.sha256(f"{request.headers.get('Authorization', '')}\0{key}".encode()).hexdigest()
            waiting = self.pending.get(scope)
            if waiting is not None:
                await asyncio.shield(waiting)
            replay = self._replay(scope)
            if replay is not None:
                request[REPLAYED] = replay.headers.get("x-qiao-route", "")
                return replay
            fut = self.pending[scope] = asyncio.get_running_loop().create_future()
            try:
                resp = await handler(request)
                self._keep(scope, resp)
                return resp
            finally:
                del self.pending[scope]
                fut.set_result(None)

        return wrapped

    def _replay(self, scope: str) -> web.Response | None:
        kept = self.done.get(scope)
        if kept is None:
            return None
        at, status, headers, body = kept
        if self.clock() - at > TTL_S:
            del self.done[scope]
            return None
        return web.Response(body=body, status=status, headers={**headers, "x-qiao-idempotent-replay": "true"})

    def _keep(self, scope: str, resp: web.StreamResponse) -> None:
        if not isinstance(resp, web.Response) or resp.prepared or resp.status != 200:
            return
        body = resp.body
        if not isinstance(body, bytes) or len(body) > MAX_BODY:
            return
        headers = {h: resp.headers[h] for h in _KEEP if h in resp.headers}
        self.done[scope] = (self.clock(), resp.status, headers, body)
        while len(self.done) > MAX_ENTRIES:
            self.done.popitem(last=False)
