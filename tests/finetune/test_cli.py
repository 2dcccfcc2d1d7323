"""The ``finetune`` command line: sub-commands and exit codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.finetune.conftest import jsonl, read_jsonl

Run = Callable[..., tuple[int, str, str]]
GOOD = {"messages": [{"role": "user", "content": "你好！"}, {"role": "assistant", "content": "您好。"}]}
BAD = {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}


def test_convert_writes_target_lines(tmp_path: Path, cli: Run) -> None:
    """convert writes one line per accepted sample and exits 0."""
    src = jsonl(tmp_path / "in.jsonl", [GOOD])
    code, _, err = cli("convert", "--to", "bailian", src, "-o", tmp_path / "out.jsonl")
    assert code == 0, err
    assert read_jsonl(tmp_path / "out.jsonl") == [GOOD]


def test_strict_exits_1_on_first_reject(tmp_path: Path, cli: Run) -> None:
    """--strict stops at the first rejected line with exit code 1."""
    src = jsonl(tmp_path / "in.jsonl", [BAD, GOOD])
    code, _, err = cli("convert", "--to", "siliconflow", "--strict", src, "-o", tmp_path / "o.jsonl")
    assert code == 1
    assert "in.jsonl:1" in err


def test_no_finetune_vendor_exits_2_with_advice(tmp_path: Path, cli: Run) -> None:
    """A vendor without fine-tuning gets exit 2 and the open formats to use, no traceback."""
    src = jsonl(tmp_path / "in.jsonl", [GOOD])
    code, _, err = cli("convert", "--to", "deepseek", src, "-o", tmp_path / "o.jsonl")
    assert code == 2
    assert "llamafactory" in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["--to", "nope"], ["--to", "bailian", "--set", "bailian.nope=1"]])
def test_usage_errors_exit_2(tmp_path: Path, cli: Run, args: list[str]) -> None:
    """Unknown targets and unknown settings are usage errors (exit 2)."""
    src = jsonl(tmp_path / "in.jsonl", [GOOD])
    code, _, _ = cli("convert", *args, src, "-o", tmp_path / "o.jsonl")
    assert code == 2
