"""Input paths that are not regular files: every command says what the path is, not "no such file".

Every test runs ``python -m finetune`` as a child process, as a user would.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.finetune.conftest import finetune, jsonl, no_traceback

GOOD = {"messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！"}]}

#: What each kind of path is called in the message.
KINDS = {"directory": "is a directory, not a file", "fifo": "is a FIFO (named pipe), not a regular file"}


def make(path: Path, kind: str) -> Path:
    """Create a directory or a FIFO at ``path``."""
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    return path


def command(name: str, path: Path, tmp_path: Path) -> list[str | Path]:
    """Arguments of ``name`` reading ``path``."""
    return {
        "convert": ["convert", path, "--to", "bailian", "-o", tmp_path / "out.jsonl"],
        "validate": ["validate", path, "--for", "bailian"],
        "validate-openai": ["validate", path, "--for", "openai"],  # openai's own strict reader
        "stats": ["stats", path],
    }[name]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("name", ["convert", "validate", "validate-openai", "stats"])
def test_input_that_is_not_a_file_is_named_for_what_it_is(tmp_path: Path, name: str, kind: str) -> None:
    """A directory or FIFO as the input exits 2 with one line saying what the path is (never "no such
    file"), without hanging on the FIFO and without writing any output."""
    path = make(tmp_path / "data.jsonl", kind)
    done = finetune(*command(name, path, tmp_path))
    assert done.returncode == 2, done.stderr
    assert f"finetune: {path} {KINDS[kind]}" in done.stderr
    assert "no such file" not in done.stderr and no_traceback(done.stderr)
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("kind", list(KINDS))
def test_requests_that_is_not_a_file_is_named_for_what_it_is(tmp_path: Path, kind: str) -> None:
    """--requests naming a directory or FIFO is refused the same way, naming the --requests path."""
    src = jsonl(tmp_path / "out.batch.jsonl", [{"custom_id": "a", "response": {"body": {}}}])
    requests = make(tmp_path / "requests", kind)
    done = finetune("convert", src, "--requests", requests, "--to", "bailian", "-o", tmp_path / "out.jsonl")
    assert done.returncode == 2, done.stderr
    assert f"finetune: --requests {requests} {KINDS[kind]}" in done.stderr and no_traceback(done.stderr)


def test_missing_input_still_says_no_such_file(tmp_path: Path) -> None:
    """A path that does not exist keeps the plain message: "no such file: PATH"."""
    done = finetune("validate", tmp_path / "gone.jsonl", "--for", "bailian")
    assert done.returncode == 2 and f"finetune: no such file: {tmp_path / 'gone.jsonl'}" in done.stderr
