"""The emulator's server: the control API, which sets each target's faults, limits, key and balance, and
the vendor side, which answers a target's requests in its dialect.

A target's vendor comes from ``balancer.vendors.REGISTRY`` (auth scheme, quirks, balance path), its dialect
from ``DIALECTS`` (error bodies, stream framing, balance body, signature check).

Control API (JSON): ``POST/DELETE /_emulator/faults`` (``custom`` replays a body or raw SSE lines as given),
``POST /_emulator/limits``, ``POST /_emulator/keys``, ``POST /_emulator/config``, ``GET /_emulator/stats``,
``POST /_emulator/reset``. Files, batches and fine-tuning jobs: :mod:`balancer.emulator.offline`.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
import orjson
from aiohttp import web
from multidict import CIMultiDict

from balancer.emulator import replies, stream
from balancer.emulator.dialects import DIALECTS
from balancer.emulator.dialects.base import ERROR_FAULTS, Dialect, ErrorReply
from balancer.emulator.offline import Offline
from balancer.emulator.targets import FaultSpec, Target
from balancer.vendors import REGISTRY

_T = TypeVar("_T")


class LimitSpec(msgspec.Struct, forbid_unknown_fields=True):
    target: str
    rpm: int | None = None
    tpm: int | None = None
    balance_tokens: int | None = None
    granted: float | None = None  # money, as the vendor's balance API reports it
    paid: float | None = None


class KeySpec(msgspec.Struct, forbid_unknown_fields=True):
    target: str
    key: str


class EmulatorConfig(msgspec.Struct, forbid_unknown_fields=True):
    chunk_delay_ms: float | None = None
    reply_tokens: int | None = None


class Emulator:
    def __init__(self, chunk_delay_ms: float = 0.0, reply_tokens: int = 12, seed: int = 0) -> None:
        self.chunk_delay_ms = chunk_delay_ms
        self.reply_tokens = reply_tokens
        self.targets: dict[str, Target] = {}
        self.rng = random.Random(seed)
        self.offline = Offline(lambda: self.reply_tokens)  # files, batches, fine-tuning jobs

    def target(self, name: str) -> Target:
        t = self.targets.get(name)
        if t is None:
            base = name.split(".", 1)[0]
            vendor, dialect = REGISTRY.get(base), DIALECTS.get(base)
            if vendor is None or dialect is None:
                raise web.HTTPNotFound(text=f"no vendor dialect for target {name!r}")
            t = self.targets[name] = Target(name, vendor, dialect)
        return t

    # ---- control API --------------------------------------------------------------------------

    async def set_fault(self, request: web.Request) -> web.Response:
        spec = _decode(await request.read(), FaultSpec)
        t = self.target(spec.target)
        t.fault = None if spec.fault == "ok" and spec.latency_ms == 0 else spec
        return web.json_response({"target": t.name, "fault": spec.fault})

    async def clear_faults(self, request: web.Request) -> web.Response:
        name = request.query.get("target")
        for t in self.targets.values():
            if name is None or t.name == name:
                t.fault = None
        return web.json_response({"cleared": name or "all"})

    async def set_limits(self, request: web.Request) -> web.Response:
        spec = _decode(await request.read(), LimitSpec)
        t = self.target(spec.target)
        for f in ("rpm", "tpm", "balance_tokens"):
            setattr(t, f, getattr(spec, f))
        t.granted = spec.granted if spec.granted is not None else t.granted
        t.paid = spec.paid if spec.paid is not None else t.paid
        return web.json_response({"target": t.name})

    async def set_key(self, request: web.Request) -> web.Response:
        spec = _decode(await request.read(), KeySpec)
        self.target(spec.target).key = spec.key
        return web.json_response({"target": spec.target})

    async def set_config(self, request: web.Request) -> web.Response:
        spec = _decode(await request.read(), EmulatorConfig)
        if spec.chunk_delay_ms is not None:
            self.chunk_delay_ms = spec.chunk_delay_ms
        if spec.reply_tokens is not None:
            self.reply_tokens = spec.reply_tokens
        return web.json_response({"chunk_delay_ms": self.chunk_delay_ms, "reply_tokens": self.reply_tokens})

    async def stats(self, request: web.Request) -> web.Response:
        out = {
            n: {**t.stats, "faults": t.faults_applied, "balance_tokens": t.balance_tokens}
            for n, t in self.targets.items()
        }
        return web.json_response({"targets": out})

    async def reset(self, request: web.Request) -> web.Response:
        self.targets.clear()
        self.offline.reset()
        return web.json_response({"reset": True})

    # ---- the vendor side ----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        t = self.target(request.match_info["target"])
        tail = "/" + request.match_info["tail"]
        vendor = t.vendor
        if Offline.claims(tail):
            if not self._authorised(t, request):
                return _err(t.dialect.auth)
            return await self.offline.handle(t, tail, request)
        if request.method == "GET":
            if vendor.balance is not None and tail.rstrip("/") == vendor.balance.path.rstrip("/"):
                return self._balance(t, request)
            raise web.HTTPNotFound(text=f"{vendor.name}: no GET {tail}")
        raw = await request.read()
        if not self._authorised(t, request, raw):
            return _err(t.dialect.auth)
        t.stats["requests"] += 1
        try:
            body = orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError:  # invalid UTF-8, 1e400, ...: the vendor's parser refuses it with its 400
            body = None
        if not isinstance(body, dict):
            t.stats["errors"] += 1
            return _err(t.dialect.bad_request)
        if t.dialect.parse_request is not None:
            body = t.dialect.parse_request(body)
        return await self._answer(t, tail, body, request)

    def _authorised(self, t: Target, request: web.Request, body: bytes = b"") -> bool:
        if t.dialect.check_auth is not None:  # a signing vendor: verify the signature headers
            return t.dialect.check_auth(request.headers, t.key, body, time.time())
        expected = t.vendor.auth(t.key or "")
        for name, value in expected.items():
            got = request.headers.get(name, "")
            if not got or (t.key is not None and got != value) or got.strip().lower() == "bearer":
                return False
        return True

    def _balance(self, t: Target, request: web.Request) -> web.Response:
        if t.dialect.balance is None:
            raise web.HTTPNotFound(text=f"{t.vendor.name}: no balance body in its dialect")
        if not self._authorised(t, request):
            return _err(t.dialect.auth)
        empty = t.balance_tokens is not None and t.balance_tokens <= 0
        return web.json_response(t.dialect.balance(0.0 if empty else t.granted, 0.0 if empty else t.paid))

    async def _answer(self, t: Target, tail: str, body: dict[str, Any], request: web.Request) -> web.StreamResponse:
        fault = t.draw_fault(self.rng)
        kind = fault.fault if fault is not None else "ok"
        if fault is not None and fault.latency_ms and kind in ("ok", "slow_first_byte"):
            await asyncio.sleep(fault.latency_ms / 1000)
        if kind == "timeout":
            await asyncio.sleep(3600)
        if fault is not None and kind == "custom":
            return await self._custom(t, fault, request)
        if fault is not None and kind in ERROR_FAULTS:
            return self._fault_error(t, fault)
        embeddings = tail.endswith("/embeddings")
        messages = body.get("messages") or []
        cannot = None if embeddings else self._cannot(t, body)
        if cannot is not None:
            t.stats["errors"] += 1
            return _err(cannot)
        prompt = replies.count_tokens(str(body.get("input", ""))) if embeddings else replies.prompt_tokens(messages)
        limit = replies.output_limit(body, t.dialect.ignores_max_completion_tokens)
        completion = 0 if embeddings else min(self.reply_tokens, limit)
        billed = completion * replies.choices_asked(body)  # every one of the n choices
        refused = t.admit(prompt + billed)
        if refused is not None:
            t.stats["errors"] += 1
            return _err(*refused)
        if embeddings:
            t.book(prompt, 0)
            return web.json_response(replies.embeddings(body, prompt))
        if body.get("stream"):
            t.stats["streams"] += 1
            frames = stream.events(t.dialect, stream.chunks(t.name, t.vendor.quirks, body, prompt, completion))
            book = functools.partial(t.book, prompt, billed)
            return await stream.send(request, t.dialect, frames, kind, self.chunk_delay_ms, book)
        if kind == "malformed":
            return web.Response(body=b'{"id": "chatcmpl-broken", "choices": [', content_type="application/json")
        t.book(prompt, billed)
        reply = {**replies.completion(t.name, body, prompt, completion), **t.dialect.extra_fields}
        if t.dialect.render_reply is not None:
            reply = t.dialect.render_reply(reply)
        return web.Response(body=orjson.dumps(reply), content_type="application/json", headers=t.ratelimit_headers())

    @staticmethod
    def _cannot(t: Target, body: dict[str, Any]) -> ErrorReply | None:
        """The vendor's 400 for what it cannot take: as its dialect says, messages it refuses (``_refused_turns``),
        a tool schema outside its subset of JSON Schema, a tool_choice it does not accept or a temperature other
        than the one a model takes; as the catalogue marks
        the model, a tool call without its reasoning while it thinks (``ModelInfo.thinks``), an image or another
        part that is not text for a text-only one (``ModelInfo.vision`` False), a json_schema for one without
        (``ModelInfo.json_schema``)."""
        messages = body.get("messages") or []
        refused = _refused_turns(t.dialect, messages)
        if refused is not None:
            return refused
        schema = _tool_schema(t.dialect, body.get("tools"))
        if schema is not None:
            return schema
        choice = t.dialect.tool_choice
        if choice is not None and replies.tool_choice_of(body) not in ("", *choice[0]):
            return choice[1]
        pinned = t.dialect.temperature_only.get(str(body.get("model")))
        if pinned is not None and body.get("temperature") not in (None, pinned[0]):
            return pinned[1]
        info = t.vendor.models.get(str(body.get("model")))
        unreasoned = t.dialect.unreasoned
        if unreasoned is not None and replies.thinks(body, info is not None and info.thinks):
            at = replies.unreasoned_at(messages, unreasoned.empty_counts, unreasoned.whole_turn)
            if at is not None:
                return _filled(unreasoned.reply, "{index}", str(at))
        if info is None:
            return None
        if info.vision is False and replies.has_media(messages):
            return t.dialect.text_only
        fmt = body.get("response_format")
        if info.json_schema is False and isinstance(fmt, dict) and fmt.get("type") == "json_schema":  # None: ignored
            return t.dialect.no_json_schema
        return None

    def _fault_error(self, t: Target, fault: FaultSpec) -> web.Response:
        """The vendor's body for an error fault (or the fault's own body), with Retry-After when asked."""
        t.stats["errors"] += 1
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
            if t.dialect.retry_after_ms:
                headers["retry-after-ms"] = f"{fault.retry_after * 1000:g}"
        spec = t.dialect.error(fault.fault)
        if fault.body is not None:
            return _raw(fault.status or spec[0], fault.body, headers)
        return _err(spec, headers)

    async def _custom(self, t: Target, fault: FaultSpec, request: web.Request) -> web.StreamResponse:
        """Replay exactly what a vendor sent: ``status``, ``headers`` and ``body``, or the raw SSE ``events``."""
        status = fault.status or 200
        if status >= 400:
            t.stats["errors"] += 1
        if fault.events is not None:
            return await stream.replay(request, status, fault.headers, fault.events, fault.latency_ms)
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        return _raw(status, fault.body if fault.body is not None else "", fault.headers)


def _refused_turns(d: Dialect, messages: list[Any]) -> ErrorReply | None:
    """The dialect's answer to messages the vendor refuses: a role it does not know, turns that do not alternate,
    system messages but one first, an assistant message saying nothing."""
    if d.no_developer_role and any(isinstance(m, dict) and m.get("role") == "developer" for m in messages):
        return d.no_developer_role
    if d.not_alternating and not replies.turns_alternate(messages):
        return d.not_alternating
    if d.one_system_first:
        several, later = replies.systems_of(messages)
        if later or several > 1:
            return d.one_system_first[1 if later else 0]
    empty = replies.empty_assistant_at(messages) if d.empty_assistant else None
    if d.empty_assistant and empty is not None:
        return _filled(d.empty_assistant[1 if empty[1] else 0], "{position}", str(empty[0]))
    return None


def _tool_schema(d: Dialect, tools: Any) -> ErrorReply | None:
    """The vendor's answer to tools outside its JSON Schema subset (``Dialect.tool_schema``), or None."""
    if d.tool_schema is None:
        return None
    if replies.untyped_root(tools):
        return d.tool_schema[0]
    broken = replies.schema_break(tools)
    return None if broken is None else _filled(d.tool_schema[1], "{details}", broken)


def _filled(spec: ErrorReply, mark: str, text: str) -> ErrorReply:
    """A vendor's answer with ``mark`` in its body replaced by ``text`` (a message's index, where a schema breaks)."""
    status, reply = spec
    return status, orjson.loads(orjson.dumps(reply).replace(mark.encode(), orjson.dumps(text)[1:-1]))


def _err(spec: ErrorReply, headers: Mapping[str, str] | None = None) -> web.Response:
    status, body = spec
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def _raw(status: int, body: Mapping[str, Any] | str, headers: Mapping[str, str] | None) -> web.Response:
    """A body given by the user: a string byte for byte, an object as JSON (Content-Type JSON unless given)."""
    head = CIMultiDict(headers or {})
    head.setdefault("Content-Type", "application/json")
    data = body.encode() if isinstance(body, str) else orjson.dumps(body)
    return web.Response(body=data, status=status, headers=head)


def _decode(data: bytes, type_: type[_T]) -> _T:
    try:
        return msgspec.json.decode(data, type=type_)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise web.HTTPBadRequest(text=f"bad control request: {e}") from None


def make_app(emu: Emulator | None = None) -> web.Application:
    emu = emu or Emulator()
    app = web.Application(client_max_size=256 << 20)  # batch and fine-tuning uploads
    app.router.add_post("/_emulator/faults", emu.set_fault)
    app.router.add_delete("/_emulator/faults", emu.clear_faults)
    app.router.add_post("/_emulator/limits", emu.set_limits)
    app.router.add_post("/_emulator/keys", emu.set_key)
    app.router.add_post("/_emulator/config", emu.set_config)
    app.router.add_get("/_emulator/stats", emu.stats)
    app.router.add_post("/_emulator/reset", emu.reset)
    app.router.add_route("*", "/{target}/{tail:.*}", emu.handle)
    return app
