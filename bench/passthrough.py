"""The reference point: a minimal aiohttp + uvloop + orjson pass-through (parse body, forward,
parse usage), as in shared/bench. Run beside the gateway to compare ratios on the same machine.

    python bench/passthrough.py --port 8400 --upstream http://127.0.0.1:9100/v1/chat/completions
"""

from __future__ import annotations

import argparse

import aiohttp
import orjson
import uvloop
from aiohttp import web


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8400)
    ap.add_argument("--upstream", required=True)
    args = ap.parse_args()
    session: dict[str, aiohttp.ClientSession] = {}

    async def handler(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        body["model"] = "gpt-4o-mini"
        async with session["s"].post(
            args.upstream, data=orjson.dumps(body), headers={"Content-Type": "application/json"}
        ) as r:
            data = await r.read()
        orjson.loads(data)["usage"]
        return web.Response(body=data, content_type="application/json")

    async def ctx(app: web.Application):  # type: ignore[no-untyped-def]
        session["s"] = aiohttp.ClientSession()
        yield
        await session["s"].close()

    app = web.Application()
    app.cleanup_ctx.append(ctx)
    app.router.add_post("/v1/chat/completions", handler)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
