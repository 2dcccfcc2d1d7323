"""Formats and limits from the vendors' documentation, through the command line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from finetune.targets import TARGETS
from tests.finetune.conftest import finetune, jsonl, no_traceback, read_jsonl

Run = Callable[..., tuple[int, str, str]]
S = {"role": "system", "content": "你是一个人工智能助手。"}
U1 = {"role": "user", "content": "生成一个关于人工智能的标题吧。"}
A1 = {"role": "assistant", "content": "好的，给您生成一些标题：1) …"}
U2 = {"role": "user", "content": "会导致这些行业大量失业么？"}


def kto(good: bool, history: bool = False) -> dict[str, Any]:
    """A KTO line in the bridge's OpenAI-shaped input: only one of the two outputs."""
    prompt = [S, U1, A1, U2] if history else [S, U2]
    side = "preferred_output" if good else "non_preferred_output"
    return {"input": {"messages": prompt}, side: [{"role": "assistant", "content": "是的" if good else "不是"}]}


def test_kto_lines_take_qianfans_template(tmp_path: Path) -> None:
    """KTO samples become Qianfan's Prompt+Chosen-or-Rejected lines: history as user/assistant, the
    last turn with only chosen or only rejected; read back, they stay KTO samples, and validate finds
    nothing wrong (keys that vary with the template's shape are not a file.keys warning)."""
    src = jsonl(tmp_path / "kto.jsonl", [kto(True), kto(False, history=True)])
    out = tmp_path / "q.jsonl"
    done = finetune("convert", src, "--to", "qianfan-pr", "-o", out)
    assert done.returncode == 0, done.stderr
    assert read_jsonl(out) == [
        [{"system": "你是一个人工智能助手。", "user": "会导致这些行业大量失业么？", "chosen": "是的"}],
        [
            {"system": "你是一个人工智能助手。", "user": U1["content"], "assistant": A1["content"]},
            {"user": "会导致这些行业大量失业么？", "rejected": "不是"},
        ],
    ]
    back = finetune("convert", "--from", "qianfan-pr", out, "--to", "qianfan-pr", "-o", tmp_path / "again.jsonl")
    assert back.returncode == 0 and (tmp_path / "again.jsonl").read_bytes() == out.read_bytes()
    checked = finetune("validate", "--for", "qianfan-pr", out)
    assert checked.returncode == 0 and "no issues" in checked.stderr, checked.stderr


def test_kto_is_refused_by_targets_without_it(tmp_path: Path) -> None:
    """A target that cannot express KTO (OpenAI's DPO needs both answers) rejects it with a reason."""
    src = jsonl(tmp_path / "kto.jsonl", [kto(True)])
    done = finetune("convert", src, "--to", "openai", "-o", tmp_path / "o.jsonl")
    assert done.returncode == 1 and no_traceback(done.stderr)
    assert "rejected [preference.shape] $.preferred_output: KTO samples" in done.stderr


def test_ranking_lines_take_qianfans_template(tmp_path: Path) -> None:
    """Several scored answers become one turn with every response ([["a"], ["b"]], best first) and
    their scores, and read back with the same scores."""
    line = {
        "input": {"messages": [U2]},
        "ranked_outputs": [
            {"content": "不一定。", "score": 1},
            {"content": "会改变一些岗位，也会创造新岗位。", "score": 3},
            {"content": "会。", "score": 0},
        ],
    }
    out = tmp_path / "rank.jsonl"
    done = finetune("convert", jsonl(tmp_path / "in.jsonl", [line]), "--to", "qianfan-pr", "-o", out)
    assert done.returncode == 0, done.stderr
    assert read_jsonl(out) == [
        [
            {
                "system": "",
                "prompt": "会导致这些行业大量失业么？",
                "response": [["会改变一些岗位，也会创造新岗位。"], ["不一定。"], ["会。"]],
                "score": [3, 1, 0],
            }
        ]
    ]
    back = finetune("convert", "--from", "qianfan-pr", out, "--to", "qianfan-pr", "-o", tmp_path / "b.jsonl")
    assert back.returncode == 0 and (tmp_path / "b.jsonl").read_bytes() == out.read_bytes()


@pytest.mark.parametrize(("setting", "content"), [([], "问题？"), (["--set", "bailian.content=parts"], [{"text": "问题？"}])])
def test_bailian_content_is_one_shape_on_every_line(tmp_path: Path, cli: Run, setting: list[str], content: Any) -> None:
    """Bailian content is a string by default and [{"text": ...}] with content=parts — on every line,
    tool lines included (a column that changes type breaks columnar readers)."""
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    rows = [
        {"messages": [{"role": "user", "content": "问题？"}, {"role": "assistant", "content": "答。"}]},
        {
            "messages": [
                {"role": "user", "content": "问题？"},
                {"role": "assistant", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c", "content": "1"},
                {"role": "assistant", "content": "答。"},
            ],
            "tools": [{"type": "function", "function": {"name": "f"}}],
        },
    ]
    code, _, err = cli("convert", jsonl(tmp_path / "in.jsonl", rows), "--to", "bailian", "-o", tmp_path / "o.jsonl", *setting)
    assert code == 0, err
    assert [r["messages"][0]["content"] for r in read_jsonl(tmp_path / "o.jsonl")] == [content, content]


def test_output_is_split_at_the_vendor_size_cap(tmp_path: Path) -> None:
    """Output over a target's file size cap rolls over to OUT.part2.jsonl…, no part above the cap,
    no line lost or split (the cap lowered with --set so the test stays small)."""
    rows = [{"messages": [{"role": "user", "content": f"问题{i}"}, {"role": "assistant", "content": "长" * 60}]} for i in range(60)]
    src = jsonl(tmp_path / "in.jsonl", rows)
    done = finetune("convert", src, "--to", "zhipu", "--set", "zhipu.max_file_bytes=3000", "-o", tmp_path / "z.jsonl")
    assert done.returncode == 0, done.stderr
    parts = list(tmp_path.glob("z*.jsonl"))
    assert len(parts) > 2
    assert {p.name for p in parts} == {"z.jsonl", *(f"z.part{n}.jsonl" for n in range(2, len(parts) + 1))}
    assert all(p.stat().st_size <= 3000 for p in parts)
    assert sum(len(read_jsonl(p)) for p in parts) == 60


def test_validate_refuses_a_file_over_the_size_cap(tmp_path: Path) -> None:
    """validate --for zhipu flags a file above the cap (limits.file_size), naming the cap and its source."""
    rows = [{"messages": [{"role": "user", "content": f"问{i}"}, {"role": "assistant", "content": "答" * 40}]} for i in range(30)]
    src = jsonl(tmp_path / "big.jsonl", rows)
    done = finetune("validate", "--for", "zhipu", src, "--set", "zhipu.max_file_bytes=1000")
    assert done.returncode == 1 and "rejected [limits.file_size]" in done.stderr
    assert "docs.z.ai/api-reference/api-code" in done.stderr and "splits into parts" in done.stderr


def test_stale_parts_from_an_earlier_run_are_pointed_out(tmp_path: Path) -> None:
    """A leftover OUT.part3.jsonl that this run did not write is reported, not deleted."""
    (tmp_path / "o.part3.jsonl").write_text("{}\n")
    src = jsonl(tmp_path / "in.jsonl", [{"messages": [U2, A1]}])
    done = finetune("convert", src, "--to", "zhipu", "-o", tmp_path / "o.jsonl")
    assert done.returncode == 0 and "warning [output.stale_part]" in done.stderr and "o.part3.jsonl" in done.stderr
    assert (tmp_path / "o.part3.jsonl").exists()


def test_every_size_cap_names_its_source(cli: Run) -> None:
    """Each target with a file size cap shows it in `finetune targets` with a documentation URL;
    Zhipu's is 100 MB (upload error 435)."""
    code, out, _ = cli("targets")
    assert code == 0
    capped = {t.name: (t.caps.max_file_bytes, t.limits_source or t.source) for t in TARGETS.values() if t.caps.max_file_bytes}
    assert set(capped) >= {"openai", "zhipu", "bailian", "qianfan", "qianfan-pr"}
    for cap, source in capped.values():
        assert f"{cap / 1e6:g} MB" in out and source.startswith("https://")
    assert TARGETS["zhipu"].caps.max_file_bytes == 100_000_000
    assert "limit: files of at most 100 MB, larger output is split (https://docs.z.ai/api-reference/api-code)" in out


def test_targets_say_which_qianfan_response_shape_is_default(cli: Run) -> None:
    """`finetune targets` shows response=nested as qianfan-pr's default and why."""
    code, out, _ = cli("targets")
    assert code == 0
    section = out[out.index("qianfan-pr ") : out.index("\nqianfan ")]
    assert "option: response=nested (default; --set qianfan-pr.response=...)" in section
    assert 'writes [["text"]], the shape Baidu\'s SDK validator accepts' in section
