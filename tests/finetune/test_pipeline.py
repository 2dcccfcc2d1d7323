"""The conversion pipeline end to end: splits, limits, filters, dedup, reports."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import msgspec

from finetune.output import JsonlSink
from finetune.pipeline import Converter, ConvertOptions, Source
from finetune.readers import read_openai, read_transcript
from finetune.report import Report
from finetune.targets import TARGETS
from finetune.targets.base import with_overrides
from tests.finetune.conftest import jsonl, read_jsonl


def line(i: int, answer: str = "答。") -> dict[str, Any]:
    """A distinct one-turn conversation."""
    return {"messages": [{"role": "user", "content": f"问题{i}？"}, {"role": "assistant", "content": answer}]}


def convert(tmp: Path, rows: list[Any], target: str = "bailian", **opts: Any) -> tuple[Converter, Report]:
    """Run the pipeline on rows; return the converter and its report."""
    src = jsonl(tmp / "in.jsonl", rows)
    report = Report(out=io.StringIO())
    tgt = TARGETS[target]
    conv = Converter(tgt, ConvertOptions(**opts), report)
    conv.run([Source(src, read_openai)], tmp / "out.jsonl")
    return conv, report


def test_validation_split_is_deterministic(tmp_path: Path) -> None:
    """--val-fraction sends a stable, content-determined share of lines to out.val.jsonl."""
    rows = [line(i) for i in range(400)]
    c, _ = convert(tmp_path, rows, val_fraction=0.25)
    val = read_jsonl(tmp_path / "out.val.jsonl")
    assert 60 < len(val) < 140 and c.summary.samples == 400 and c.summary.validation == len(val)
    again = tmp_path / "again"
    again.mkdir()
    convert(again, list(reversed(rows)), val_fraction=0.25)
    assert sorted(map(str, read_jsonl(again / "out.val.jsonl"))) == sorted(map(str, val))


def test_output_splits_at_the_file_size_cap(tmp_path: Path) -> None:
    """A capped target rolls over to out.part2.jsonl and so on; no file exceeds the cap."""
    rows = [line(i, "长" * 50) for i in range(40)]
    src = jsonl(tmp_path / "in.jsonl", rows)
    target = with_overrides(TARGETS["bailian"], {"max_file_bytes": "2000"})
    conv = Converter(target, ConvertOptions(), Report(out=io.StringIO()))
    summary = conv.run([Source(src, read_openai)], tmp_path / "out.jsonl")
    paths = [Path(p) for p in summary.files]
    assert len(paths) > 2 and paths[1].name == "out.part2.jsonl"
    assert all(p.stat().st_size <= 2000 for p in paths)
    assert sum(len(read_jsonl(p)) for p in paths) == 40


def test_exact_and_normalised_dedup(tmp_path: Path) -> None:
    """Exact dedup drops byte-identical samples; normalised also drops case/space variants."""
    rows = [line(1, "Hello World"), line(1, "Hello World"), line(1, "hello   world")]
    c, report = convert(tmp_path, rows)
    assert c.summary.samples == 2 and report.by_rule["skipped:dedup.exact"] == 1
    c, report = convert(tmp_path, rows, dedup="normalised")
    assert c.summary.samples == 1 and report.by_rule["skipped:dedup.normalised"] == 2
    assert read_jsonl(tmp_path / "out.jsonl")[0]["messages"][1]["content"] == "Hello World"


def test_token_limit_rejects_with_estimate_label(tmp_path: Path) -> None:
    """Samples above --max-tokens are rejected, and an estimated count says so."""
    text = io.StringIO()
    src = jsonl(tmp_path / "in.jsonl", [line(1, "字" * 100), line(2)])
    report = Report(out=text)
    Converter(TARGETS["zhipu"], ConvertOptions(max_tokens=50), report).run(
        [Source(src, read_openai)], tmp_path / "o.jsonl"
    )
    assert report.by_action["rejected"] == report.by_rule["rejected:limits.tokens"] == 1
    assert "(estimate)" in text.getvalue()


def test_provenance_filters(tmp_path: Path) -> None:
    """--provider/--model/--exclude-model globs keep only transcripts from chosen sources."""

    def rec(vendor: str, model: str) -> dict[str, Any]:
        body = {"messages": [{"role": "user", "content": f"{vendor}{model}"}]}
        return {"v": 1, "vendor": vendor, "provider": vendor + "-1", "model": model, "request": body,
                "response": {"content": "答"}}  # fmt: skip

    src = jsonl(
        tmp_path / "t.jsonl",
        [rec("deepseek", "deepseek-chat"), rec("openai", "gpt-4o"), rec("qwen", "qwen-max")],
    )
    report = Report(out=io.StringIO())
    opts = ConvertOptions(providers=("deepseek", "qwen*"), exclude_models=("qwen-max",))
    summary = Converter(TARGETS["bailian"], opts, report).run([Source(src, read_transcript)], tmp_path / "o.jsonl")
    assert summary.samples == 1
    assert report.by_action["skipped"] == 2
    assert report.by_rule["skipped:filter.provider"] == report.by_rule["skipped:filter.model"] == 1


def test_input_errors_are_reported_with_line_and_path(tmp_path: Path) -> None:
    """Unparseable lines and schema errors name the line number, rule and JSON path."""
    out = io.StringIO()
    src = jsonl(tmp_path / "in.jsonl", ["{oops", "", '{"messages":[{"role":"user","content":7}]}'])
    Converter(TARGETS["bailian"], ConvertOptions(), Report(out=out)).run(
        [Source(src, read_openai)], tmp_path / "o.jsonl"
    )
    text = out.getvalue()
    assert "in.jsonl:1: rejected [input.json]" in text
    assert "in.jsonl:3: rejected [input.schema] $.messages[0].content" in text


def test_sink_writes_one_empty_file_when_nothing_passes(tmp_path: Path) -> None:
    """An output file exists (empty) even when every line was rejected."""
    sink = JsonlSink(tmp_path / "o.jsonl")
    sink.close()
    assert (tmp_path / "o.jsonl").read_bytes() == b""


def test_llamafactory_writes_dataset_info(tmp_path: Path) -> None:
    """LLaMA-Factory output comes with a dataset_info.json entry naming the file and its columns."""
    convert(tmp_path, [line(1)], target="llamafactory", val_fraction=0.5)
    info = msgspec.json.decode((tmp_path / "dataset_info.json").read_bytes())
    assert info["out"]["file_name"] == "out.jsonl" and info["out"]["formatting"] == "sharegpt"
    assert info["out_val"]["file_name"] == "out.val.jsonl"


def test_bad_tool_arguments_are_a_rule_not_a_writer_failure(tmp_path: Path) -> None:
    """Tool arguments that are not JSON are rejected by the tools.arguments rule before the writer runs."""
    call = {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
    row = {
        "messages": [
            {"role": "user", "content": "查"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "1", "content": "结果"},
            {"role": "assistant", "content": "好。"},
        ]
    }
    c, report = convert(tmp_path, [row], target="sharegpt")
    assert c.summary.samples == 0 and report.by_rule["rejected:tools.arguments"] == 1
    assert report.by_rule["rejected:write.failed"] == 0
