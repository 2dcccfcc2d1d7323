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


def test_validate_reports_and_exits_1(tmp_path: Path, cli: Run) -> None:
    """validate checks a target-format file without transforms and exits 1 on problems."""
    bad = jsonl(tmp_path / "sf.jsonl", [GOOD, BAD])
    code, _, err = cli("validate", "--for", "siliconflow", bad)
    assert code == 1 and "sf.jsonl:2: rejected [turns.alternation]" in err
    good = jsonl(tmp_path / "ok.jsonl", [GOOD])
    assert cli("validate", "--for", "siliconflow", good)[0] == 0


def test_validate_reads_target_format(tmp_path: Path, cli: Run) -> None:
    """validate --for qianfan-pr reads the array-per-line format itself."""
    rows = ['[{"prompt":"你好？","response":[["您好！"]]}]', '[{"prompt":"只有问题"}]']
    src = jsonl(tmp_path / "q.jsonl", rows)
    code, _, err = cli("validate", "--for", "qianfan-pr", src)
    assert code == 1 and "q.jsonl:2: rejected [content.empty]" in err


def test_stats_counts_tokens_and_costs(tmp_path: Path, cli: Run) -> None:
    """stats prints samples, turns, labelled token estimates, per-target rejects and costs."""
    src = jsonl(tmp_path / "in.jsonl", [GOOD, BAD, "not json"])
    code, out, _ = cli("stats", src)
    assert code == 0
    assert "samples 2" in out and "unreadable 1" in out and "estimate" in out
    assert "siliconflow" in out and "gpt-4o-mini" in out


def test_targets_lists_rules_and_defaults(cli: Run) -> None:
    """targets lists every target with its rule ids and its unconfirmed defaults."""
    code, out, _ = cli("targets")
    assert code == 0
    assert "qianfan-pr" in out and "[turns.alternation]" in out and "default:" in out and "deepseek" in out


def test_convert_back_to_openai(tmp_path: Path, cli: Run) -> None:
    """A file written for a target converts back to OpenAI format with --from TARGET."""
    src = jsonl(tmp_path / "in.jsonl", [GOOD])
    cli("convert", "--to", "sharegpt", src, "-o", tmp_path / "sg.jsonl")
    code, _, err = cli(
        "convert",
        "--from",
        "sharegpt",
        "--to",
        "openai",
        tmp_path / "sg.jsonl",
        "-o",
        tmp_path / "back.jsonl",
    )
    assert code == 0, err
    assert read_jsonl(tmp_path / "back.jsonl") == [GOOD]


def test_python_dash_m_runs(tmp_path: Path) -> None:
    """python -m finetune works and returns the documented exit code."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "finetune", "convert", "--to", "yi", "x", "-o", "y"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "Yi" in done.stderr


class FakeTTY:
    """A text stream that claims to be a terminal."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        return None


def test_progress_bar_only_on_a_tty() -> None:
    """The progress bar draws on a terminal and stays silent otherwise."""
    import io

    from finetune.commands import ProgressBar

    tty = FakeTTY()
    bar = ProgressBar(1000, tty)  # type: ignore[arg-type]
    bar.update(500)
    bar.close()
    assert bar.on and "50.0%" in tty.text and tty.text.endswith("\n")
    assert not ProgressBar(1000, io.StringIO()).on


def test_validate_openai_flags_unknown_keys(tmp_path: Path, cli: Run) -> None:
    """validate --for openai reports keys outside OpenAI's schema with their JSON path."""
    row = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", "reasoning_content": "r"},
        ]
    }
    src = jsonl(tmp_path / "o.jsonl", [row])
    code, _, err = cli("validate", "--for", "openai", src)
    assert code == 1 and "[input.schema] $.messages[1]" in err and "reasoning_content" in err


def test_transform_flags_reach_the_pipeline(tmp_path: Path, cli: Run) -> None:
    """CLI flags for PII, splits, dedup and filters are passed through to the conversion."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"电话13812345678，问题{i}？"},
                {"role": "assistant", "content": "好。"},
            ]
        }
        for i in range(50)
    ]
    src = jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    args = ["--scrub-pii", "--val-fraction", "0.3", "--dedup", "normalised", "--split-turns", "history"]
    code, _, err = cli("convert", "--to", "bailian", src, "-o", out, *args, "--report", tmp_path / "r.jsonl")
    assert code == 0, err
    train, val = read_jsonl(out), read_jsonl(tmp_path / "out.val.jsonl")
    assert len(train) + len(val) == 50 and val
    assert all("[PHONE]" in r["messages"][0]["content"] for r in train + val)
    assert b"transform.pii" in (tmp_path / "r.jsonl").read_bytes()


def test_version(tmp_path: Path) -> None:
    """finetune --version prints the package version and exits 0."""
    from finetune import __version__
    from tests.finetune.conftest import finetune

    done = finetune("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"finetune (qiao) {__version__}"


def test_every_option_has_help() -> None:
    """Every option and argument of every sub-command carries a help text."""
    import argparse

    from finetune.cli import _parser

    parser = _parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {action.dest}"
        for name, sub in [("finetune", parser), *subs.choices.items()]
        for action in sub._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []
    assert all(choice.help for choice in subs._choices_actions)


def test_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    """`finetune targets | head` with the reader gone: exit 0, no traceback, no ignored exception."""
    import os
    import subprocess
    import sys

    from tests.finetune.conftest import no_traceback

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first write
    done = subprocess.run(
        [sys.executable, "-m", "finetune", "targets"], stdout=write_end, stderr=subprocess.PIPE, text=True, check=False
    )
    os.close(write_end)
    assert done.returncode == 0 and no_traceback(done.stderr), done.stderr


def test_closed_stderr_does_not_stop_a_conversion(tmp_path: Path) -> None:
    """`finetune convert … 2>&1 | head` with the reader gone: the run completes, writes its output
    and keeps its exit code (1 here: every line rejected)."""
    import os
    import subprocess
    import sys

    rows = [GOOD, *([BAD] * 300)]
    src = jsonl(tmp_path / "in.jsonl", rows)
    read_end, write_end = os.pipe()
    os.close(read_end)
    cmd = [sys.executable, "-m", "finetune", "convert", str(src), "--to", "siliconflow", "-o", str(tmp_path / "o.jsonl")]
    done = subprocess.run(cmd, stdout=write_end, stderr=write_end, check=False)
    os.close(write_end)
    assert done.returncode == 1
    assert read_jsonl(tmp_path / "o.jsonl") == [GOOD]
