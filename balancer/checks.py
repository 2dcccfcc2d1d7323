"""What ``serve`` would trip on, found before it runs.

**Errors**: ``serve`` refuses to start with them, and a reload (SIGHUP) refuses the new file — through
:func:`errors`, the one function both ``balancer check`` and :func:`balancer.gateway.check_startable` call, so
a config ``check`` passes never makes ``serve`` refuse. **Warnings**: ``serve`` runs, but something is likely
wrong (a model the vendor's catalogue does not list, a grant no route can spend, an embeddings route whose
candidates return vectors that cannot be compared). Each finding names the exact config path.

Offline (``check --offline``) nothing outside the file is read: values taken from ``${VAR}`` / ``file:`` are
``pending`` and not judged, and :func:`needs` lists what the running gateway will need instead.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from balancer import router
from balancer.config import Config, GrantConfig, Provider
from balancer.secrets import Reference
from balancer.vendors import REGISTRY
from balancer.vendors.base import Vendor

REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "redis+cluster")
_PLACEHOLDER = re.compile(r"(?<!\$)\{(\w+)\}")  # {resource}, not ${VAR}
_LOOPBACK = ("127.", "::1", "localhost")
_KIND = {"chat": "a chat", "embeddings": "an embeddings"}


@dataclass(frozen=True, slots=True)
class Finding:
    level: Literal["error", "warning"]
    path: str  # the config path, e.g. routes.chat.candidates[1].model
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _error(path: str, message: str) -> Finding:
    return Finding("error", path, message)


def _warning(path: str, message: str) -> Finding:
    return Finding("warning", path, message)


def errors(cfg: Config, *, offline: bool = False, pending: Collection[str] = ()) -> list[Finding]:
    """What makes ``serve`` refuse the config. ``offline``: the environment is not read and the values at
    ``pending`` paths (references left unresolved) are not judged."""
    return [
        *_strategies(cfg),
        *_client_auth(cfg),
        *_state(cfg, offline, pending),
        *_api_keys(cfg, pending),
        *_url_placeholders(cfg),
        *_transcripts_directory(cfg, offline, pending),
    ]


def warnings(cfg: Config) -> list[Finding]:
    """What ``serve`` runs with but is likely wrong."""
    return [
        *_catalogue(cfg),
        *_grants(cfg),
        *_embeddings(cfg),
        *_keyless(cfg),
        *_transcripts(cfg),
        *_exposed(cfg),
    ]


def refusal(found: list[Finding]) -> str:
    """The message ``serve`` refuses a config with (one error, or all of them)."""
    if len(found) == 1:
        return str(found[0])
    return f"{len(found)} problems in the config:\n" + "\n".join(f"  {f}" for f in found)


def needs(cfg: Config, refs: Collection[Reference]) -> list[tuple[str, str]]:
    """Offline: what the running gateway will read from outside the file, as (what, where it is used)."""
    out = []
    for r in refs:
        what = f"env {r.name}" if r.kind == "env" else f"file {r.name}"
        out.append((what + (" (optional: has a default)" if r.has_default else ""), r.where))
    if cfg.state.backend == "redis" and not cfg.state.redis_url:
        out.append(("env REDIS_URL", "state.backend is redis and state.redis_url is not set"))
    return out


# ---- errors --------------------------------------------------------------------------------------


def _strategies(cfg: Config) -> Iterator[Finding]:
    known = ", ".join(sorted(router.STRATEGIES))
    for name, route in cfg.routes.items():
        if route.strategy not in router.STRATEGIES:
            yield _error(f"routes.{name}.strategy", f"unknown strategy {route.strategy!r} ({known})")


def _client_auth(cfg: Config) -> Iterator[Finding]:
    if not cfg.client_keys and not cfg.server.insecure_no_auth:
        yield _error(
            "client_keys",
            "no client keys are configured: add one (balancer hash-key <key> prints the sha256 for key_sha256), "
            "or set server.insecure_no_auth: true for a local run",
        )


def _state(cfg: Config, offline: bool, pending: Collection[str]) -> Iterator[Finding]:
    if cfg.state.backend == "memory" or "state.redis_url" in pending:
        return
    if offline and not cfg.state.redis_url:
        return  # REDIS_URL is not read offline: needs() lists it
    url = cfg.state.url()
    where = "state.redis_url" if cfg.state.redis_url else "REDIS_URL (environment)"
    if url is None:
        if cfg.state.backend == "redis":
            yield _error(
                "state.redis_url",
                "state.backend is redis but no URL is set: set state.redis_url or the REDIS_URL environment "
                "variable (or state.backend: memory for a single instance)",
            )
        return
    problem = redis_url_problem(url)
    if problem:
        yield _error(where, problem)


def redis_url_problem(url: str) -> str | None:
    """Why the store could not be built from ``url``, or None. Never echoes the URL (it may hold a password)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in REDIS_SCHEMES:
        said = f"scheme {scheme!r}" if sep and re.fullmatch(r"[a-z0-9+.-]+", scheme) else "no scheme"
        return (
            f"{said}: use redis://host:6379/0, rediss:// (TLS), unix://, "
            "redis+sentinel://h1:26379,h2:26379/<service>[/db] or redis+cluster://host:port"
        )
    if scheme == "redis+sentinel":
        hosts, _, tail = rest.partition("/")
        service, _, db = tail.partition("/")
        ports_ok = all(h.rpartition(":")[2].isdigit() and h.rpartition(":")[0] for h in hosts.split(","))
        if not ports_ok or not service or not (db == "" or db.isdigit()):
            return "a sentinel URL is redis+sentinel://h1:26379,h2:26379/<service>[/db]: every host with its port"
    return None


def _api_keys(cfg: Config, pending: Collection[str]) -> Iterator[Finding]:
    for name, prov in cfg.providers.items():
        where = f"providers.{name}.api_key"
        if where in pending:
            continue
        vendor = REGISTRY[prov.vendor]
        if prov.api_key is None and prov.base_url is None:
            yield _error(
                where,
                f"not set, and {vendor.title} needs a key ({vendor.auth_scheme}): "
                'write api_key: "${ENV_VAR}" or "file:/path/to/key"',
            )
        elif prov.api_key is not None and not prov.api_key.reveal().strip():
            origin = f" ({prov.api_key.origin} is empty)" if prov.api_key.origin else ""
            yield _error(
                where, f"the key is empty{origin}: set it, or leave api_key out for an endpoint that needs none"
            )


def _url_placeholders(cfg: Config) -> Iterator[Finding]:
    seen: set[str] = set()
    for route in cfg.routes.values():
        for cand in route.candidates:
            prov = cfg.providers[cand.provider]
            url = _vendor(prov).request_url(prov.base_url, route.kind, cand.model, prov.extra)
            m = _PLACEHOLDER.search(url)
            if m and cand.provider not in seen:
                seen.add(cand.provider)
                p = f"providers.{cand.provider}"
                yield _error(
                    f"{p}.base_url" if prov.base_url else f"{p}.extra",
                    f"the request URL still holds the placeholder {{{m[1]}}}: set {p}.extra.{m[1]}, "
                    f"or give the full endpoint as {p}.base_url",
                )


def _vendor(prov: Provider) -> Vendor:
    return REGISTRY[prov.vendor].configured(prov.extra)


def _transcripts_directory(cfg: Config, offline: bool, pending: Collection[str]) -> Iterator[Finding]:
    """A transcripts directory that is named, and (online) one the gateway can write in or create."""
    where = "transcripts.directory"
    if cfg.transcripts is None or where in pending:
        return
    if not cfg.transcripts.directory.strip():
        yield _error(
            where,
            "is empty, which would write transcripts into the gateway's working directory: name a directory "
            "(e.g. var/transcripts)",
        )
    elif cfg.transcripts.directory.startswith("~"):
        yield _error(
            where, "starts with ~, which is not expanded (a directory named ~ would be created): write the full path"
        )
    elif not offline and (problem := directory_problem(Path(cfg.transcripts.directory))):
        yield _error(where, problem)


def directory_problem(path: Path) -> str | None:
    """Why the gateway could not write files in ``path`` (creating it if need be), or None."""
    missing = path  # the nearest that exists: the directory, or the one it is to be created in
    try:
        while not missing.exists() and missing.parent != missing:
            missing = missing.parent
        if missing != path and not missing.is_dir():
            return f"{path} cannot be created: {missing} is a file, not a directory"
        if not missing.is_dir():
            return f"{path} is a file, not a directory: name a directory the transcript files can be written in"
    except OSError as e:
        return f"{path} cannot be reached: {e.strerror}"
    if not os.access(missing, os.W_OK | os.X_OK):
        if missing == path:
            return f"{path} is not writable by this user: transcript files cannot be written in it"
        return f"{path} cannot be created: {missing} is not writable by this user"
    return None


# ---- warnings ------------------------------------------------------------------------------------


def _did_you_mean(name: str, options: Collection[str]) -> str:
    """`` (did you mean 'x'?)`` with the closest of ``options`` (ties and near-ties too), or nothing."""
    by_lower = {o.lower(): o for o in options}
    scored = sorted(((difflib.SequenceMatcher(None, name.lower(), o).ratio(), o) for o in by_lower), reverse=True)
    close = [o for score, o in scored if score >= 0.6 and score >= scored[0][0] - 0.1][:3]
    return f" (did you mean {' or '.join(repr(by_lower[c]) for c in close)}?)" if close else ""


def _catalogue(cfg: Config) -> Iterator[Finding]:
    for rname, route in cfg.routes.items():
        for i, cand in enumerate(route.candidates):
            prov = cfg.providers[cand.provider]
            vendor = REGISTRY[prov.vendor]
            where = f"routes.{rname}.candidates[{i}].model"
            info = vendor.models.get(cand.model)
            if info is None:
                yield _warning(where, _unlisted(cfg, rname, i, vendor))
            elif info.kind != route.kind:
                yield _warning(
                    where,
                    f"{cand.model!r} is {_KIND[info.kind]} model in {vendor.name}'s catalogue, but routes.{rname} is "
                    f"{_KIND[route.kind]} route (kind: {route.kind}): every request sent to it will fail",
                )
            elif not info.price_known and cand.model not in prov.prices:
                yield _warning(
                    where,
                    f"{vendor.name}'s catalogue has no list price for {cand.model!r}, so the router and the ledger "
                    f"count it as free: set providers.{cand.provider}.prices.{cand.model} (to 0 if it is free)",
                )


def _unlisted(cfg: Config, rname: str, i: int, vendor: Vendor) -> str:
    route = cfg.routes[rname]
    cand = route.candidates[i]
    same_kind = [m for m, info in vendor.models.items() if info.kind == route.kind]
    text = f"{cand.model!r} is not in {vendor.name}'s catalogue{_did_you_mean(cand.model, same_kind)}"
    text += (
        f". {vendor.name} may still accept it (fine-tuned, newly released and endpoint-id models are not "
        "listed), but the gateway knows nothing about it"
    )
    missing = []
    if cand.model not in cfg.providers[cand.provider].prices:
        missing.append(f"it counts it as free (set providers.{cand.provider}.prices.{cand.model})")
    if cand.context_window is None and route.kind == "chat":
        missing.append(f"it skips it after a context-length error (set routes.{rname}.candidates[{i}].context_window)")
    return text + (": " + "; ".join(missing) if missing else "")


def _grants(cfg: Config) -> Iterator[Finding]:
    used: dict[str, set[str]] = {}
    for route in cfg.routes.values():
        for cand in route.candidates:
            used.setdefault(cand.provider, set()).add(cand.model)
    for pname, prov in cfg.providers.items():
        models = used.get(pname, set())
        for i, grant in enumerate(prov.account.grants):
            at = f"providers.{pname}.account.grants[{i}]"
            yield from _spent(grant, at)
            if not grant.models and not models:
                yield _warning(
                    at,
                    f"grant {grant.name!r} covers every model of {pname}, but no route sends to {pname}: "
                    "its credit cannot be spent through the gateway",
                )
            for j, model in enumerate(grant.models):
                if model not in models:
                    yield _warning(
                        f"{at}.models[{j}]",
                        f"grant {grant.name!r} covers {model!r}, but no route sends {model!r} to {pname}"
                        f"{_did_you_mean(model, models)}, so that credit cannot be spent through the gateway "
                        f"(add {{provider: {pname}, model: {model}}} to a route's candidates)",
                    )


def _spent(grant: GrantConfig, at: str) -> Iterator[Finding]:
    """A grant that can pay for nothing: expired (before today, UTC) or of size 0 — the planner skips it."""
    if grant.expires and grant.expires < dt.datetime.now(dt.UTC).date():
        yield _warning(f"{at}.expires", f"grant {grant.name!r} expired on {grant.expires}: it pays for nothing now")
    if grant.tokens == 0 or grant.amount == 0:
        key = "tokens" if grant.tokens == 0 else "amount"
        yield _warning(f"{at}.{key}", f"grant {grant.name!r} is of size 0: it pays for nothing")


def embedding_space(model: str) -> str:
    """Which vector space a model's embeddings live in: the model itself, whoever serves it (``BAAI/bge-m3``
    on one provider and ``bge-m3`` on another are the same weights)."""
    return model.rsplit("/", 1)[-1].lower()


def _embeddings(cfg: Config) -> Iterator[Finding]:
    for rname, route in cfg.routes.items():
        if route.kind != "embeddings":
            continue
        first = route.candidates[0]
        for i, cand in enumerate(route.candidates[1:], start=1):
            info = REGISTRY[cfg.providers[cand.provider].vendor].models.get(cand.model)
            if info is not None and info.kind != "embeddings":
                continue  # not an embeddings model at all: _catalogue says so
            if embedding_space(cand.model) != embedding_space(first.model):
                yield _warning(
                    f"routes.{rname}.candidates[{i}].model",
                    f"{cand.model!r} ({cand.provider}) is a different embedding model from {first.model!r} "
                    f"(candidates[0], {first.provider}): their vectors live in different spaces, often of "
                    "different dimensions, so after a failover the vectors returned cannot be compared with "
                    "those already stored. Keep one model per embeddings route (the same model on several "
                    "providers is fine)",
                )


def _keyless(cfg: Config) -> Iterator[Finding]:
    for name, prov in cfg.providers.items():
        where = f"providers.{name}.api_key"
        if prov.api_key is None and prov.base_url is not None:
            yield _warning(
                where,
                f"not set: requests to providers.{name}.base_url carry no key, which only a keyless endpoint "
                "(a local proxy, the emulator) accepts",
            )
        elif prov.api_key is not None and prov.api_key.origin is None:
            m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", prov.api_key.reveal())
            if m:
                yield _warning(
                    where, f'${m[1]} is sent as the key itself: only ${{{m[1]}}} is expanded (write "${{{m[1]}}}")'
                )


def _transcripts(cfg: Config) -> Iterator[Finding]:
    if cfg.transcripts is not None:
        return
    wanted = [f"routes.{name}.transcripts" for name, route in cfg.routes.items() if route.transcripts]
    wanted += [f"client_keys[{i}].transcripts" for i, key in enumerate(cfg.client_keys) if key.transcripts]
    for where in wanted:
        yield _warning(
            where, "is true, but there is no top-level transcripts: section, so nothing is captured: add one"
        )


def _exposed(cfg: Config) -> Iterator[Finding]:
    if not cfg.server.insecure_no_auth:
        return
    if cfg.client_keys:
        yield _warning(
            "server.insecure_no_auth",
            f"is true, so the {len(cfg.client_keys)} client key(s) are not checked (nor their routes: lists)",
        )
    if not cfg.server.host.startswith(_LOOPBACK):
        yield _warning(
            "server.insecure_no_auth",
            f"is true and server.host is {cfg.server.host}: anyone who can reach the gateway spends your "
            "vendor accounts",
        )
