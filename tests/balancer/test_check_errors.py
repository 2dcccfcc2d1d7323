"""`balancer check` errors as a user meets them (a subprocess on a config file): `serve` refuses exactly what `check`
reports, with the same words; and `--offline`, which validates a config with no secret present."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.balancer.checkkit import SECRET, Raw, azure, balancer, base, check, edited, environ, lines, write

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
        lambda r: azure(r, {}),
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


# ---- transcripts.directory -------------------------------------------------------------------------


def _read_only_dir(tmp_path: Path) -> Path:
    """A directory this process cannot write in: mode 0555, or (as root, whom modes do not stop) a read-only tmpfs."""
    d = tmp_path / "read-only"
    d.mkdir(mode=0o555)
    if not os.access(d, os.W_OK):
        return d
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=4k", "tmpfs", str(d)]).returncode:
        pytest.skip("no directory this user cannot write in (root without mount permission)")
    return d


DIRECTORIES: list[tuple[str, Callable[[Path], str], str]] = [
    ("empty", lambda _: "", "is empty, which would write transcripts into the gateway's working directory"),
    ("blank", lambda _: "  ", "is empty, which would write transcripts into the gateway's working directory"),
    ("home", lambda _: "~/transcripts", "starts with ~, which is not expanded"),
    ("a file", lambda t: str(t / "a-file"), "a-file is a file, not a directory"),
    ("under a file", lambda t: str(t / "a-file" / "transcripts"), "cannot be created: "),
    ("not writable", lambda t: str(_read_only_dir(t)), "read-only is not writable by this user"),
    ("not creatable", lambda t: str(_read_only_dir(t) / "sub"), "cannot be created: "),
]


@pytest.mark.parametrize(("directory", "why"), [c[1:] for c in DIRECTORIES], ids=[c[0] for c in DIRECTORIES])
def test_unusable_transcripts_directory_is_refused(tmp_path: Path, directory: Callable[[Path], str], why: str) -> None:
    """``transcripts.directory`` empty (before: transcripts went silently into the working directory), starting with
    ``~``, a file, under a file, or a directory this user cannot write in or create: `check` exits 2 naming the
    key and why, and `serve` refuses with the same words (before, for a file: a traceback), never a traceback."""
    (tmp_path / "a-file").write_text("not a directory")
    raw = base()
    try:
        raw["transcripts"] = {"directory": directory(tmp_path)}
        raw["routes"]["chat"]["transcripts"] = True
        out = check(tmp_path, raw)
        served = balancer("serve", "--config", str(tmp_path / "qiao.yaml"))
    finally:
        subprocess.run(["umount", "-l", str(tmp_path / "read-only")], capture_output=True, check=False)
    assert (out.returncode, served.returncode) == (2, 2), (out.stderr, served.stderr)
    (error,) = lines(out.stderr, "error")
    assert error.startswith("transcripts.directory: ") and why in error, error
    assert error in served.stderr and "Traceback" not in out.stderr + served.stderr


def test_a_creatable_transcripts_directory_passes(tmp_path: Path) -> None:
    """A transcripts directory that does not exist yet, in a directory the gateway can write in, is no error;
    offline the file system is not judged (the gateway may run elsewhere), an empty name still is."""
    raw = base()
    raw["transcripts"] = {"directory": str(tmp_path / "var" / "transcripts")}
    assert check(tmp_path, raw).returncode == 0
    raw["transcripts"] = {"directory": str(tmp_path / "qiao.yaml")}
    assert check(tmp_path, raw, "--offline").returncode == 0
    raw["transcripts"] = {"directory": ""}
    offline = check(tmp_path, raw, "--offline")
    assert offline.returncode == 2 and "transcripts.directory: is empty" in offline.stderr
