"""`balancer check` as a user runs it (a subprocess on a config file): the errors `serve` refuses to start with,
the warnings it would run with, `--strict`, `--offline`; and `serve` agreeing with `check` on every case."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

Raw = dict[str, Any]
SECRET = "sk-live-never-printed-4242"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base() -> Raw:
    """A clean config: one client key, one DeepSeek account, one route, no Redis, no balance polls."""
    return {
        "server": {"port": free_port()},
        "state": {"backend": "memory"},
        "balances": {"enabled": False},
        "client_keys": [{"name": "app", "key_sha256": "0" * 64}],
        "providers": {"ds": {"vendor": "deepseek", "api_key": SECRET, "base_url": "http://127.0.0.1:9/deepseek"}},
        "routes": {"chat": {"candidates": [{"provider": "ds", "model": "deepseek-chat"}]}},
    }


def environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without REDIS_URL or any QIAO_T_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("QIAO_T_")}
    return env | (extra or {})


def write(tmp_path: Path, raw: Raw) -> Path:
    f = tmp_path / "qiao.yaml"
    f.write_text(yaml.safe_dump(raw))
    return f


def balancer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "balancer", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=environ(env))


def check(tmp_path: Path, raw: Raw, *flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return balancer("check", "--config", str(write(tmp_path, raw)), *flags, env=env)


def lines(text: str, level: str) -> list[str]:
    """The ``path: message`` of each ``level: FILE: path: message`` line."""
    return [line.split(": ", 2)[2] for line in text.splitlines() if line.startswith(f"{level}: ")]


def edited(edit: Callable[[Raw], object]) -> Raw:
    raw = base()
    edit(raw)
    return raw


def _azure(raw: Raw, extra: dict[str, str]) -> None:
    raw["providers"]["az"] = {"vendor": "azure", "api_key": "k", "extra": extra}
    raw["routes"]["chat"]["candidates"].append({"provider": "az", "model": "gpt-4o"})


# ---- errors: check exits 2, and serve refuses with the same message ---------------------------------

ERRORS: list[tuple[str, Callable[[Raw], object], dict[str, str], str, str]] = [
    ("no client keys", lambda r: r.pop("client_keys"), {}, "client_keys", "no client keys are configured"),
    ("redis without a URL", lambda r: r.update(state={"backend": "redis"}), {}, "state.redis_url", "no URL is set"),
    (
        "redis URL of another scheme",
        lambda r: r.update(state={"backend": "redis", "redis_url": "http://u:hunter2@cache:6379"}),
        {},
        "state.redis_url",
        "scheme 'http': use redis://",
    ),
    (
        "REDIS_URL of another scheme",
        lambda r: r.update(state={"backend": "auto"}),
        {"REDIS_URL": "cache:6379"},
        "REDIS_URL (environment)",
        "no scheme",
    ),
    (
        "sentinel URL without ports",
        lambda r: r.update(state={"backend": "redis", "redis_url": "redis+sentinel://h1,h2/mymaster"}),
        {},
        "state.redis_url",
        "every host with its port",
    ),
    (
        "secret from an empty variable",
        lambda r: r["providers"]["ds"].update(api_key="${QIAO_T_EMPTY}"),
        {"QIAO_T_EMPTY": ""},
        "providers.ds.api_key",
        "the key is empty (${QIAO_T_EMPTY} is empty)",
    ),
    (
        "secret from an empty file",
        lambda r: r["providers"]["ds"].update(api_key="file:/dev/null"),
        {},
        "providers.ds.api_key",
        "the key is empty (file:/dev/null is empty)",
    ),
    (
        "no key for the vendor's own endpoint",
        lambda r: (r["providers"]["ds"].pop("api_key"), r["providers"]["ds"].pop("base_url")),
        {},
        "providers.ds.api_key",
        "not set, and DeepSeek needs a key",
    ),
    (
        "unknown strategy",
        lambda r: r["routes"]["chat"].update(strategy="fastest"),
        {},
        "routes.chat.strategy",
        "unknown strategy 'fastest'",
    ),
    (
        "URL placeholder left",
        lambda r: _azure(r, {}),
        {},
        "providers.az.extra",
        "still holds the placeholder {resource}: set providers.az.extra.resource",
    ),
    (
        "malformed reference",
        lambda r: r["providers"]["ds"].update(api_key="${QIAO_T KEY}"),
        {},
        "providers.ds.api_key",
        "the '${' at character 1 does not start a reference",
    ),
]


@pytest.mark.parametrize(("edit", "env", "path", "why"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_check_and_serve_refuse_alike(
    tmp_path: Path, edit: Callable[[Raw], object], env: dict[str, str], path: str, why: str
) -> None:
    """Each error: `check` exits 2 naming the config path and why; `serve` refuses to start (exit 2) with every
    error `check` printed, word for word; the key is never printed."""
    f = str(write(tmp_path, edited(edit)))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "balancer", cmd, "--config", f],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environ(env),
        )
        for cmd in ("check", "serve")
    ]
    (_, checked), (_, served) = (p.communicate(timeout=30) for p in procs)
    assert [p.returncode for p in procs] == [2, 2], (checked, served)
    found = lines(checked, "error") or [checked.splitlines()[0].split(": ", 2)[2]]  # a parse error: one line
    assert any(e.startswith(f"{path}: ") and why in e for e in found), checked
    for e in found:
        assert e in served, (e, served)
    for out in (checked, served):
        assert SECRET not in out and "hunter2" not in out and "Traceback" not in out


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    """Several errors: `check` lists each with its path (not only the first); `serve` refuses naming them all."""
    raw = base()
    raw.pop("client_keys")
    raw["state"] = {"backend": "redis"}
    raw["routes"]["chat"]["strategy"] = "fastest"
    out = check(tmp_path, raw)
    assert out.returncode == 2
    assert [e.split(": ")[0] for e in lines(out.stderr, "error")] == [
        "routes.chat.strategy",
        "client_keys",
        "state.redis_url",
    ]
    assert "3 error(s), 0 warning(s): balancer serve would refuse this config" in out.stderr
    assert "chat  [chat" not in out.stdout  # no route listing for a config that cannot run
    served = balancer("serve", "--config", str(tmp_path / "qiao.yaml"))
    assert served.returncode == 2 and "3 problems in the config" in served.stderr
    assert all(e in served.stderr for e in lines(out.stderr, "error"))


def test_unset_variables_are_all_named(tmp_path: Path) -> None:
    """Online, every unset ${VAR} is named with the key that uses it, in one run (exit 2)."""
    raw = base()
    raw["providers"]["ds"]["api_key"] = "${QIAO_T_DS_KEY}"
    raw["client_keys"][0]["key_sha256"] = "${QIAO_T_HASH}"
    out = check(tmp_path, raw)
    assert out.returncode == 2
    assert "client_keys[0].key_sha256: environment variable QIAO_T_HASH is not set" in out.stderr
    assert "providers.ds.api_key: environment variable QIAO_T_DS_KEY is not set" in out.stderr


# ---- warnings: serve would run; check says what is likely wrong ------------------------------------


def _grant(raw: Raw, models: list[str], route: bool) -> None:
    grant = {"name": "pack", "tokens": 1_000_000, "models": models}
    raw["providers"]["glm"] = {"vendor": "glm", "api_key": "id.secret", "account": {"grants": [grant]}}
    if route:
        raw["routes"]["chat"]["candidates"].append({"provider": "glm", "model": "glm-4-flash"})


def _embed(raw: Raw, *cands: tuple[str, str]) -> None:
    raw["providers"]["qw"] = {"vendor": "qwen", "api_key": "k"}
    raw["providers"]["glm"] = {"vendor": "glm", "api_key": "id.secret"}
    raw["providers"]["oa"] = {"vendor": "openai", "api_key": "k"}
    raw["providers"]["az"] = {"vendor": "azure", "api_key": "k", "extra": {"resource": "r"}}
    candidates = [{"provider": p, "model": m} for p, m in cands]
    raw["routes"]["embed"] = {"kind": "embeddings", "candidates": candidates}


WARNINGS: list[tuple[str, Callable[[Raw], object], str, list[str]]] = [
    (
        "model not in the catalogue",
        lambda r: r["routes"]["chat"]["candidates"][0].update(model="deepseek-chatt"),
        "routes.chat.candidates[0].model",
        [
            "'deepseek-chatt' is not in deepseek's catalogue (did you mean 'deepseek-chat'?).",
            "deepseek may still accept it (fine-tuned, newly released and endpoint-id models are not listed)",
            "it counts it as free (set providers.ds.prices.deepseek-chatt)",
            "(set routes.chat.candidates[0].context_window)",
        ],
    ),
    (
        "model of the other kind",
        lambda r: _embed(r, ("qw", "qwen-plus")),
        "routes.embed.candidates[0].model",
        ["'qwen-plus' is a chat model in qwen's catalogue, but routes.embed is an embeddings route"],
    ),
    (
        "no list price",
        lambda r: r.update(
            providers={"sf": {"vendor": "stepfun", "api_key": "k"}},
            routes={"chat": {"candidates": [{"provider": "sf", "model": "step-1-8k"}]}},
        ),
        "routes.chat.candidates[0].model",
        ["no list price for 'step-1-8k'", "count it as free: set providers.sf.prices.step-1-8k"],
    ),
    (
        "grant for a model no route uses",
        lambda r: _grant(r, ["glm-4-air"], route=True),
        "providers.glm.account.grants[0].models[0]",
        ["grant 'pack' covers 'glm-4-air', but no route sends 'glm-4-air' to glm", "cannot be spent"],
    ),
    (
        "grant on a provider no route uses",
        lambda r: _grant(r, [], route=False),
        "providers.glm.account.grants[0]",
        ["grant 'pack' covers every model of glm, but no route sends to glm"],
    ),
    (
        "embeddings of different models",
        lambda r: _embed(r, ("qw", "text-embedding-v3"), ("glm", "embedding-3")),
        "routes.embed.candidates[1].model",
        [
            "'embedding-3' (glm) is a different embedding model from 'text-embedding-v3' (candidates[0], qw)",
            "cannot be compared",
        ],
    ),
    (
        "transcripts with nowhere to go",
        lambda r: r["routes"]["chat"].update(transcripts=True),
        "routes.chat.transcripts",
        ["no top-level transcripts: section, so nothing is captured"],
    ),
    (
        "a $VAR that is not expanded",
        lambda r: r["providers"]["ds"].update(api_key="$DEEPSEEK_API_KEY"),
        "providers.ds.api_key",
        ['only ${DEEPSEEK_API_KEY} is expanded (write "${DEEPSEEK_API_KEY}")'],
    ),
    (
        "no key for another endpoint",
        lambda r: r["providers"]["ds"].pop("api_key"),
        "providers.ds.api_key",
        ["requests to providers.ds.base_url carry no key"],
    ),
    (
        "client keys not checked",
        lambda r: r["server"].update(insecure_no_auth=True),
        "server.insecure_no_auth",
        ["is true, so the 1 client key(s) are not checked"],
    ),
    (
        "open to everyone",
        lambda r: (r.pop("client_keys"), r["server"].update(host="0.0.0.0", insecure_no_auth=True)),
        "server.insecure_no_auth",
        ["server.host is 0.0.0.0: anyone who can reach the gateway spends your vendor accounts"],
    ),
]


@pytest.mark.parametrize(("edit", "path", "says"), [c[1:] for c in WARNINGS], ids=[c[0] for c in WARNINGS])
def test_warnings_name_the_path_and_pass(
    tmp_path: Path, edit: Callable[[Raw], object], path: str, says: list[str]
) -> None:
    """Each warning: `check` names the config path and what is likely wrong, prints the routes and exits 0."""
    out = check(tmp_path, edited(edit))
    assert out.returncode == 0, out.stderr
    found = [w for w in lines(out.stderr, "warning") if w.startswith(f"{path}: ")]
    assert len(found) == 1, out.stderr
    for text in says:
        assert text in found[0], found[0]
    assert "ok: " in out.stdout and "warning(s)" in out.stdout and SECRET not in out.stdout + out.stderr


def test_clean_config_has_nothing_to_say(tmp_path: Path) -> None:
    """A clean config — and an embeddings route serving one model from two providers — has no finding: exit 0."""
    raw = edited(lambda r: _embed(r, ("oa", "text-embedding-3-small"), ("az", "text-embedding-3-small")))
    out = check(tmp_path, raw, "--strict")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert "ds (deepseek) -> deepseek-chat" in out.stdout and "0 warning(s)" in out.stdout


def test_strict_fails_on_warnings(tmp_path: Path) -> None:
    """--strict: a config with only warnings fails the check (exit 2), saying it is --strict that fails it."""
    raw = edited(lambda r: r["routes"]["chat"]["candidates"][0].update(model="deepseek-chatt"))
    out = check(tmp_path, raw, "--strict")
    assert out.returncode == 2
    assert "0 error(s), 1 warning(s): --strict fails the check on warnings" in out.stderr


def every_warning() -> tuple[Raw, list[str]]:
    """A config with one of each warning (but the open listener) and no error, and the paths warned about."""
    raw = base()
    glm = {"vendor": "glm", "api_key": "id.secret", "base_url": "http://127.0.0.1:9/glm"}
    raw["providers"] |= {
        "qw": {"vendor": "qwen", "api_key": "k", "base_url": "http://127.0.0.1:9/qwen"},
        "glm": glm | {"account": {"grants": [{"name": "air", "tokens": 10, "models": ["glm-4-air"]}]}},
        "idle": glm | {"account": {"grants": [{"name": "all", "tokens": 10}]}},
        "sf": {"vendor": "stepfun", "api_key": "k", "base_url": "http://127.0.0.1:9/stepfun"},
        "local": {"vendor": "openai", "base_url": "http://127.0.0.1:9/v1"},
        "kimi": {"vendor": "kimi", "api_key": "$KIMI_API_KEY", "base_url": "http://127.0.0.1:9/kimi"},
    }
    chat = [("ds", "deepseek-chatt"), ("glm", "glm-4-flash"), ("sf", "step-1-8k"), ("local", "gpt-4.1-mini")]
    raw["routes"] = {
        "chat": {"transcripts": True, "candidates": [{"provider": p, "model": m} for p, m in chat]},
        "kimi": {"candidates": [{"provider": "kimi", "model": "moonshot-v1-8k"}]},
        "embed": {
            "kind": "embeddings",
            "candidates": [
                {"provider": p, "model": m}
                for p, m in (("qw", "text-embedding-v3"), ("glm", "embedding-3"), ("qw", "qwen-plus"))
            ],
        },
    }
    paths = [
        "routes.chat.candidates[0].model",  # not in the catalogue
        "routes.chat.candidates[2].model",  # no list price
        "routes.embed.candidates[2].model",  # a chat model in an embeddings route
        "providers.glm.account.grants[0].models[0]",  # a grant for a model no route uses
        "providers.idle.account.grants[0]",  # a grant on a provider no route uses
        "routes.embed.candidates[1].model",  # another vector space
        "providers.local.api_key",  # no key for a keyless endpoint
        "providers.kimi.api_key",  # $VAR not expanded
        "routes.chat.transcripts",  # nowhere to capture to
    ]
    return raw, paths


def test_serve_runs_with_every_warning(tmp_path: Path) -> None:
    """A config with every kind of warning and no error: `check` exits 0, and `serve` starts on it, logs each
    warning with its path (never the key), and stops cleanly on SIGTERM."""
    raw, paths = every_warning()
    out = check(tmp_path, raw)
    assert out.returncode == 0, out.stderr
    assert sorted(w.split(": ")[0] for w in lines(out.stderr, "warning")) == sorted(paths)
    proc = subprocess.Popen(
        [sys.executable, "-m", "balancer", "serve", "--config", str(tmp_path / "qiao.yaml")],
        stderr=subprocess.PIPE,
        text=True,
        env=environ(),
    )
    logged = _until_listening(proc)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest
    assert sorted(e["path"] for e in logged if e.get("event") == "config_warning") == sorted(paths)
    assert SECRET not in json.dumps(logged) + rest


def _until_listening(proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    """The JSON log lines up to ``gateway_listening`` (fails if the process exits first)."""
    assert proc.stderr is not None
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            pytest.fail(f"serve exited ({proc.wait()}) before listening: {events}")
        if line.startswith("{"):
            events.append(json.loads(line))
            if events[-1].get("event") == "gateway_listening":
                return events
    pytest.fail("serve did not start listening in 30 s")


# ---- offline ---------------------------------------------------------------------------------------


def secret_refs() -> Raw:
    raw = base()
    raw["providers"]["ds"]["api_key"] = "${QIAO_T_DS_KEY}"
    raw["providers"]["qw"] = {"vendor": "qwen", "api_key": "file:/run/qiao-test/dashscope"}
    raw["providers"]["ds"]["base_url"] = "${QIAO_T_DS_URL:-https://api.deepseek.com}"
    raw["client_keys"][0]["key_sha256"] = "${QIAO_T_HASH}"
    raw["state"] = {"backend": "redis"}
    return raw


def test_offline_validates_without_secrets(tmp_path: Path) -> None:
    """--offline: with no variable set and no secret file present, the config passes (exit 0) and every variable and
    file serve will read is listed with the key that uses it (REDIS_URL too); online the same file fails."""
    out = check(tmp_path, secret_refs(), "--offline")
    assert out.returncode == 0, out.stderr
    for need in (
        "env QIAO_T_DS_KEY  (providers.ds.api_key)",
        "file /run/qiao-test/dashscope  (providers.qw.api_key)",
        "env QIAO_T_DS_URL (optional: has a default)  (providers.ds.base_url)",
        "env QIAO_T_HASH  (client_keys[0].key_sha256)",
        "env REDIS_URL  (state.backend is redis and state.redis_url is not set)",
    ):
        assert need in out.stdout, out.stdout
    assert "offline: no secret read" in out.stdout
    assert check(tmp_path, secret_refs()).returncode == 2


def test_offline_reads_no_secret(tmp_path: Path) -> None:
    """--offline reads neither the environment nor secret files: a set variable's value and a present file's
    content are never used or printed (an empty variable, an error online, is not judged offline)."""
    key_file = tmp_path / "key"
    key_file.write_text(SECRET)
    raw = secret_refs()
    raw["providers"]["qw"]["api_key"] = f"file:{key_file}"
    raw["state"] = {"backend": "memory"}
    env = {"QIAO_T_DS_KEY": "", "QIAO_T_HASH": "0" * 64}
    offline = check(tmp_path, raw, "--offline", env=env)
    assert offline.returncode == 0, offline.stderr
    assert SECRET not in offline.stdout + offline.stderr
    online = check(tmp_path, raw, env=env)
    assert online.returncode == 2 and "providers.ds.api_key: the key is empty" in online.stderr


def test_offline_still_finds_errors(tmp_path: Path) -> None:
    """--offline checks everything but the secrets' values: a malformed reference and an unknown strategy are
    still errors (exit 2), each with its path."""
    raw = secret_refs()
    raw["providers"]["ds"]["api_key"] = "${QIAO_T_DS_KEY"
    out = check(tmp_path, raw, "--offline")
    assert out.returncode == 2 and "providers.ds.api_key: the '${' at character 1 does not start" in out.stderr
    raw = secret_refs()
    raw["routes"]["chat"]["strategy"] = "fastest"
    out = check(tmp_path, raw, "--offline")
    assert out.returncode == 2 and lines(out.stderr, "error")[0].startswith("routes.chat.strategy: unknown strategy")
