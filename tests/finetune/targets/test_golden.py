"""Golden files per target: a fixed input converts to exactly the checked-in output, which reads back.

Regenerate after an intended change with ``FINETUNE_UPDATE_GOLDEN=1 pytest tests/finetune/targets``
and review the diff: the files are UTF-8 and never normalised.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import msgspec
import pytest

from finetune.pipeline import Converter, ConvertOptions, Source
from finetune.readers import read_openai
from finetune.report import Report
from finetune.targets import TARGETS

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
UPDATE = os.environ.get("FINETUNE_UPDATE_GOLDEN") == "1"


def convert(name: str, out: Path) -> tuple[bytes, str]:
    """Convert the golden input for one target; return the output bytes and the report text."""
    text = io.StringIO()
    report = Report(out=text)
    Converter(TARGETS[name], ConvertOptions(), report).run([Source(GOLDEN / "input.jsonl", read_openai)], out)
    log = text.getvalue().replace(str(GOLDEN), "").strip() + "\n" + report.summary() + "\n"
    return out.read_bytes(), log


@pytest.mark.parametrize("name", list(TARGETS))
def test_output_matches_golden(name: str, tmp_path: Path) -> None:
    """Converting the golden input gives the golden output and the golden report, byte for byte."""
    data, log = convert(name, tmp_path / f"{name}.jsonl")
    expected, expected_log = GOLDEN / f"{name}.jsonl", GOLDEN / f"{name}.report.txt"
    if UPDATE:
        expected.write_bytes(data)
        expected_log.write_text(log, encoding="utf-8")
    assert data == expected.read_bytes()
    assert log == expected_log.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list(TARGETS))
def test_golden_reads_back_and_rewrites_identically(name: str) -> None:
    """Each golden line read back with the target's reader and written again is unchanged."""
    target = TARGETS[name]
    enc = msgspec.json.Encoder()
    for line in (GOLDEN / f"{name}.jsonl").read_bytes().splitlines():
        conv = target.read(line)
        assert enc.encode(target.write(conv, target.options)) == line


def test_full_width_punctuation_survives() -> None:
    """Chinese full-width punctuation reaches every target's output unchanged."""
    for name in ("bailian", "qianfan-pr", "sharegpt", "alpaca", "minimax"):
        assert "你好！请问（今天）天气如何？" in (GOLDEN / f"{name}.jsonl").read_text(encoding="utf-8")
