"""`balancer check` warnings as a user meets them (a subprocess on a config file): each names its config path and
passes (exit 0; 2 with --strict), and `serve` runs with all of them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.balancer.checkkit import SECRET, Raw, base, check, edited, environ, lines

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
