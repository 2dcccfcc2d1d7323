"""Files the vendors' tools load: the same keys on every line, read by pyarrow and by vendor SDKs.

pyarrow's JSON reader (the engine under HF datasets) types each column from the first block it
reads and refuses later rows that do not fit; Baidu's qianfan SDK builds one pyarrow table per ten
lines and refuses the file when two tables differ ("multi-schema"). Inputs put plain lines first
and lines with every optional feature later — the hardest order for both.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from pyarrow import json as pa_json

from finetune.targets import TARGETS
from tests.finetune.conftest import finetune, jsonl, read_jsonl

Run = Callable[..., tuple[int, str, str]]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
N = 240


def rich(i: int) -> dict[str, Any]:
    """Line ``i``: plain for the first half; later a system prompt, weights, a tool exchange,
    reasoning and a second turn, each on some lines only."""
    msgs: list[dict[str, Any]] = [{"role": "user", "content": f"第{i}个问题：今天天气如何？"}]
    line: dict[str, Any] = {"messages": msgs}
    if i >= N // 2:
        if i % 2:
            msgs.insert(0, {"role": "system", "content": "你是气象助手。"})
        if i % 3 == 0:
            call = {"id": f"c{i}", "type": "function", "function": {"name": "get_weather", "arguments": '{"城市":"北京"}'}}
            msgs += [
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": f"c{i}", "content": '{"温度":14}'},
            ]
            line["tools"] = TOOLS
        if i % 4 == 0:
            msgs += [{"role": "assistant", "content": "先看第一问。", "weight": 0}, {"role": "user", "content": "继续。"}]
    answer: dict[str, Any] = {"role": "assistant", "content": f"晴，14°C。（{i}）"}
    if i >= N // 2 and i % 5 == 0:
        answer["reasoning_content"] = "查了天气。"
    msgs.append(answer)
    return line


def convert(tmp_path: Path, cli: Run, name: str, *extra: str) -> Path:
    """Convert the rich input for ``name`` (tool turns dropped where the target has no tools)."""
    src = jsonl(tmp_path / "in.jsonl", [rich(i) for i in range(N)])
    out = tmp_path / f"{name}.jsonl"
    drop = [] if TARGETS[name].caps.tools else ["--drop-tools"]
    code, _, err = cli("convert", src, "--to", name, "-o", out, "--max-reject", "1", "-q", *drop, *extra)
    assert code == 0, err
    return out


def key_shapes(out: Path, sparse: tuple[str, ...]) -> set[frozenset[str]]:
    """The distinct top-level key sets of a JSONL file's lines, keys written only when non-empty aside."""
    return {frozenset(msgspec.json.decode(line)) - set(sparse) for line in out.read_bytes().splitlines()}


@pytest.mark.parametrize(
    ("name", "extra"),
    [(n, ()) for n in TARGETS if n != "qianfan-pr"] + [("bailian", ("--set", "bailian.content=parts"))],
)
def test_same_keys_on_every_line_and_pyarrow_reads_it(tmp_path: Path, cli: Run, name: str, extra: tuple[str, ...]) -> None:
    """Every target's output has one key set on all lines (bar its declared list-valued keys) and
    pyarrow.json.read_json loads it in many small blocks, one row per line."""
    out = convert(tmp_path, cli, name, *extra)
    lines = out.read_bytes().splitlines()
    assert len(lines) >= N - 10  # a few lines may be split or dropped by a target's rules, not more
    assert len(key_shapes(out, TARGETS[name].sparse_keys)) == 1
    table = pa_json.read_json(out, read_options=pa_json.ReadOptions(block_size=1 << 14))
    assert table.num_rows == len(lines)


SDK = """
import sys
from qianfan.dataset import Dataset
from qianfan.dataset.schema import QianfanNonSortedConversation, QianfanSortedConversation
schema = QianfanSortedConversation() if sys.argv[2] == "sorted" else QianfanNonSortedConversation()
try:
    Dataset.load(data_file=sys.argv[1], organize_data_as_group=True, schema=schema)
except Exception as exc:
    print("REFUSED", exc)
else:
    print("LOADED")
"""


def qianfan_sdk(path: Path, home: Path, schema: str = "plain") -> str:
    """Load a file with Baidu's qianfan SDK and its validator, in a child process (its cache in ``home``)."""
    env = {**os.environ, "HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", SDK, str(path), schema], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    return done.stdout.strip() or done.stderr[-500:]


def test_qianfan_sdk_loads_our_files_and_refuses_mixed_keys(tmp_path: Path, cli: Run) -> None:
    """Baidu's SDK loader validates our qianfan-pr output; it refuses a file whose lines differ in
    optional keys (system on some, weight on others), which validate reports as file.keys."""
    out = convert(tmp_path, cli, "qianfan-pr")
    assert qianfan_sdk(out, tmp_path) == "LOADED"
    mixed = [[{"prompt": f"问{i}", "response": [["答"]], **({"system": "系统"} if i < 10 else {"weight": 1})}] for i in range(30)]
    bad = jsonl(tmp_path / "mixed.jsonl", mixed)
    assert qianfan_sdk(bad, tmp_path).startswith("REFUSED multi-schema")
    done = finetune("validate", "--for", "qianfan-pr", bad)
    assert "mixed.jsonl:11: warning [file.keys]" in done.stderr


def test_qianfan_sdk_loads_our_ranking_files(tmp_path: Path) -> None:
    """Ranking lines validate against the SDK's sorted-conversation schema."""
    rows = [
        {"input": {"messages": [{"role": "user", "content": f"问题{i}？"}]}, "ranked_outputs": [{"content": "好", "score": 2}, {"content": "差", "score": 0}]}
        for i in range(25)
    ]
    out = tmp_path / "rank.jsonl"
    assert finetune("convert", jsonl(tmp_path / "in.jsonl", rows), "--to", "qianfan-pr", "-o", out).returncode == 0
    assert len(read_jsonl(out)) == 25
    assert qianfan_sdk(out, tmp_path, "sorted") == "LOADED"


def test_dashscope_upload_check_accepts_bailian_output(tmp_path: Path, cli: Run) -> None:
    """The check dashscope's Files.upload runs before a fine-tune upload accepts our Bailian file."""
    out = convert(tmp_path, cli, "bailian")
    script = "import sys; from dashscope.common.utils import is_validate_fine_tune_file as ok; print(ok(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True, check=False, timeout=60)
    assert done.stdout.strip() == "True", done.stderr
