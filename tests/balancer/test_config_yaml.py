"""The config file's YAML as users get it wrong: duplicate keys, alias bombs, bytes that are not UTF-8, syntax
errors beside a secret — `balancer check` (and so `serve` and a reload, which read the file the same way) names
the line and never a traceback, a hang or the secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "sk-live-DoNotPrint9876543210"
ROUTES = "routes:\n  chat: {candidates: [{provider: ds, model: deepseek-chat}]}\n"


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "balancer", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_provider_written_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    """Two providers under one name (YAML itself keeps the last one silently): exit 2 naming the key and both
    lines, so the first account's settings are not dropped unseen."""
    f = tmp_path / "qiao.yaml"
    f.write_text(
        "server: {insecure_no_auth: true}\nproviders:\n"
        "  ds: {vendor: deepseek, api_key: sk-one-aaaaaaaa}\n"
        "  ds: {vendor: qwen, api_key: sk-two-bbbbbbbb}\n" + ROUTES
    )
    out = check(f)
    assert out.returncode == 2, out.stdout
    assert "line 4: duplicate key 'ds' (first on line 3)" in out.stderr
    assert "Traceback" not in out.stderr


def test_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    """An anchor reused and a merge key overridden (``<<: *ds`` then ``api_key:``) are not duplicates: exit 0."""
    f = tmp_path / "qiao.yaml"
    f.write_text(
        "server: {insecure_no_auth: true}\nproviders:\n"
        "  ds: &ds {vendor: deepseek, api_key: sk-one-aaaaaaaa, limits: {rpm: 10}}\n"
        "  ds2:\n    <<: *ds\n    api_key: sk-two-bbbbbbbb\n"
        "routes:\n  chat: {candidates: [{provider: ds, model: deepseek-chat}, {provider: ds2, model: deepseek-chat}]}\n"
    )
    out = check(f)
    assert out.returncode == 0, out.stderr
    assert "ds2 (deepseek) -> deepseek-chat" in out.stdout


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]\n'
            + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)),
            "aliases expand to more than 1,000,000 values",
        ),
        ("a: &a [1, *a]\n", "an alias refers to the node that contains it"),
    ],
)
def test_alias_bombs_are_refused(tmp_path: Path, body: str, message: str) -> None:
    """A billion-laughs file (ten lines, 10^10 values once expanded) and an alias inside itself: exit 2 with the
    reason, instead of a hang that eats every byte of memory or a RecursionError traceback."""
    f = tmp_path / "qiao.yaml"
    f.write_text("server: {insecure_no_auth: true}\n" + body)
    out = check(f)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr


def test_bytes_that_are_not_utf8_are_named_by_line(tmp_path: Path) -> None:
    """A file saved in another encoding (a GBK comment, a stray 0xff): exit 2 naming the line and column, no
    traceback."""
    f = tmp_path / "qiao.yaml"
    f.write_bytes(b"server: {insecure_no_auth: true}\n# \xd6\xd0\xce\xc4 GBK\nproviders: {}\n")
    out = check(f)
    assert out.returncode == 2
    assert "line 2, column 3: byte 0xd6 is not UTF-8" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("line", "where"),
    [
        (f"    api_key: {SECRET}: x\n", "line 5, column"),  # a colon typed after the key
        (f'    api_key: "{SECRET}\n', "while scanning a quoted scalar at line 5"),  # an unclosed quote
        (f"    api_key: {{{SECRET}\n", "while parsing a flow mapping at line 5"),  # a brace never closed
        (f"\tapi_key: {SECRET}\n", "line 5, column 1"),  # a tab
    ],
)
def test_a_syntax_error_beside_a_key_never_prints_it(tmp_path: Path, line: str, where: str) -> None:
    """PyYAML quotes the offending line in its errors; a config error beside an api_key must name the line and
    column only, so the key never reaches a terminal, a CI log or the gateway's reload log."""
    f = tmp_path / "qiao.yaml"
    f.write_text("server: {insecure_no_auth: true}\nproviders:\n  ds:\n    vendor: deepseek\n" + line + ROUTES)
    out = check(f)
    assert out.returncode == 2
    assert where in out.stderr, out.stderr
    assert SECRET not in out.stderr + out.stdout and "DoNotPrint" not in out.stderr
