"""Helpers for the finetune tests: write JSONL fixtures, run the CLI in-process or as a child process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from finetune.cli import main


def jsonl(path: Path, rows: Iterable[Any]) -> Path:
    """Write rows (objects, or raw strings as is) as a JSONL file."""
    lines = [r if isinstance(r, str) else msgspec.json.encode(r).decode() for r in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[Any]:
    """Decode every line of a JSONL file."""
    return [msgspec.json.decode(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``finetune`` with arguments; return (exit code, stdout, stderr)."""

    def run(*args: str | Path) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def finetune(*args: str | Path, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run ``python -m finetune`` in a child process, as a user would; capture text output."""
    cmd = [sys.executable, "-m", "finetune", *(str(a) for a in args)]
    kw.setdefault("capture_output", True)
    return subprocess.run(cmd, text=True, check=False, timeout=60, **kw)


def no_traceback(stderr: str) -> bool:
    """True when a child's stderr shows no Python traceback or ignored exception."""
    return "Traceback" not in stderr and "Exception ignored" not in stderr
