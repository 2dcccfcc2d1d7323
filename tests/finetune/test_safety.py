"""Data safety through the command line: inputs are never overwritten, outputs are never partial.

Every test runs ``python -m finetune`` as a child process, as a user would.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.finetune.conftest import finetune, jsonl, no_traceback, read_jsonl


def conversation(i: int) -> dict[str, object]:
    """A distinct, valid one-turn conversation with Chinese text."""
    return {"messages": [{"role": "user", "content": f"问题{i}：天气如何？"}, {"role": "assistant", "content": "晴。"}]}


@pytest.mark.parametrize("how", ["same path", "symlink", "hard link"])
def test_output_that_is_the_input_is_refused(tmp_path: Path, how: str) -> None:
    """-o naming the input (directly, through a symlink or a hard link) exits 2 and leaves it byte-identical."""
    src = jsonl(tmp_path / "train.jsonl", [conversation(i) for i in range(3)])
    before = src.read_bytes()
    out = {"same path": src, "symlink": tmp_path / "link.jsonl", "hard link": tmp_path / "hard.jsonl"}[how]
    if how == "symlink":
        out.symlink_to(src.name)
    elif how == "hard link":
        os.link(src, out)
    done = finetune("convert", src, "--to", "bailian", "-o", out)
    assert done.returncode == 2, done.stderr
    assert "same file as an input" in done.stderr and no_traceback(done.stderr)
    assert src.read_bytes() == before


def test_report_that_is_the_input_is_refused(tmp_path: Path) -> None:
    """--report naming the input is refused the same way, before anything is written."""
    src = jsonl(tmp_path / "in.jsonl", [conversation(1)])
    before = src.read_bytes()
    done = finetune("convert", src, "--to", "bailian", "-o", tmp_path / "o.jsonl", "--report", src)
    assert done.returncode == 2 and "same file as an input" in done.stderr
    assert src.read_bytes() == before and not (tmp_path / "o.jsonl").exists()


def test_missing_output_directories_are_created(tmp_path: Path) -> None:
    """-o into directories that do not exist yet creates them and writes the output."""
    src = jsonl(tmp_path / "in.jsonl", [conversation(1)])
    out = tmp_path / "new" / "deeper" / "out.jsonl"
    done = finetune("convert", src, "--to", "bailian", "-o", out)
    assert done.returncode == 0, done.stderr
    assert read_jsonl(out) == [conversation(1)]


def test_strict_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    """--strict stopping at a bad line leaves no output, no temporary file, and an older output as it was."""
    bad = {"messages": [{"role": "user", "content": "只有问题"}]}
    src = jsonl(tmp_path / "in.jsonl", [conversation(i) for i in range(50)] + [bad])
    (tmp_path / "out").mkdir()
    old = tmp_path / "out" / "train.jsonl"
    old.write_bytes(b'{"older":"run"}\n')
    done = finetune("convert", src, "--to", "bailian", "--strict", "-o", old, "--val-fraction", "0.2")
    assert done.returncode == 1 and "in.jsonl:51" in done.stderr and no_traceback(done.stderr)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["train.jsonl"]
    assert old.read_bytes() == b'{"older":"run"}\n'


def big_gzip_input(path: Path, lines: int) -> Path:
    """A gzip input that is small on disk but takes the converter a while (repetitive lines)."""
    row = (
        b'{"messages":[{"role":"user","content":"\xe4\xbd\xa0\xe5\xa5\xbd %d"},{"role":"assistant","content":"ok"}]}\n'
    )
    path.write_bytes(gzip.compress(b"".join(row % i for i in range(lines)), compresslevel=1))
    return path


#: ``python -m finetune`` with Ctrl-C and SIGTERM as a terminal delivers them, whatever this test
#: runner inherited (a shell starts background jobs with SIGINT ignored, and Python then leaves
#: SIGINT ignored in its children).
LAUNCH = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "signal.signal(signal.SIGTERM, signal.SIG_DFL); runpy.run_module('finetune', run_name='__main__', alter_sys=True)"
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_no_output(tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C or SIGTERM in the middle of a run: exit 128+signal, no partial or temporary file left."""
    src = big_gzip_input(tmp_path / "big.jsonl.gz", 400_000)
    out_dir = tmp_path / "out"
    cmd = [sys.executable, "-c", LAUNCH, "convert", str(src), "--to", "zhipu", "-o", str(out_dir / "o.jsonl")]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (out_dir.is_dir() and any(out_dir.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.005)  # wait until the run has started writing (its temporary file exists)
    assert child.poll() is None, "the run finished before it could be interrupted"
    child.send_signal(sig)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 128 + sig, err
    assert "interrupted" in err and no_traceback(err)
    assert list(out_dir.iterdir()) == []


def test_nohup_keeps_the_run_going(tmp_path: Path) -> None:
    """A run started with SIGHUP ignored (as nohup does) is not stopped by SIGHUP: it completes."""
    src = big_gzip_input(tmp_path / "big.jsonl.gz", 200_000)
    out_dir = tmp_path / "out"
    launch = "import runpy, signal; signal.signal(signal.SIGHUP, signal.SIG_IGN); " + LAUNCH
    cmd = [sys.executable, "-c", launch, "convert", str(src), "--to", "zhipu", "-o", str(out_dir / "o.jsonl")]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (out_dir.is_dir() and any(out_dir.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert child.poll() is None, "the run finished before the signal could reach it"
    child.send_signal(signal.SIGHUP)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert (out_dir / "o.jsonl").stat().st_size > 0


def test_damaged_gzip_stops_with_a_message_and_no_output(tmp_path: Path) -> None:
    """A damaged .gz input exits 2 naming the file and the byte offset; no output, no traceback."""
    data = bytearray(gzip.compress(b'{"messages":[]}\n' * 2000, mtime=0))
    data[20:28] = b"\xff" * 8
    src = tmp_path / "bad.jsonl.gz"
    src.write_bytes(bytes(data))
    done = finetune("convert", src, "--to", "zhipu", "-o", tmp_path / "out" / "o.jsonl")
    assert done.returncode == 2 and no_traceback(done.stderr), done.stderr
    assert "bad.jsonl.gz: damaged gzip data near byte" in done.stderr
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_output_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    """-o naming an existing directory exits 2 with a message instead of failing at the rename."""
    src = jsonl(tmp_path / "in.jsonl", [conversation(1)])
    (tmp_path / "dir").mkdir()
    done = finetune("convert", src, "--to", "zhipu", "-o", tmp_path / "dir")
    assert done.returncode == 2 and "is a directory" in done.stderr and no_traceback(done.stderr)


def test_replaced_output_keeps_its_permissions(tmp_path: Path) -> None:
    """Re-running over a private output (0600) keeps it private; a new output gets the umask default."""
    src = jsonl(tmp_path / "in.jsonl", [conversation(1)])
    private = tmp_path / "private.jsonl"
    private.write_text("old\n")
    private.chmod(0o600)
    assert finetune("convert", src, "--to", "zhipu", "-o", private).returncode == 0
    assert private.stat().st_mode & 0o777 == 0o600 and read_jsonl(private) == [conversation(1)]
    fresh = tmp_path / "fresh.jsonl"
    assert finetune("convert", src, "--to", "zhipu", "-o", fresh).returncode == 0
    mask = os.umask(0)
    os.umask(mask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~mask


def test_output_through_a_symlink_updates_its_target(tmp_path: Path) -> None:
    """-o naming a symlink (to a file that is not an input) replaces the file it points to, keeping the link."""
    src = jsonl(tmp_path / "in.jsonl", [conversation(2)])
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "today.jsonl"
    target.write_text("old\n")
    link = tmp_path / "current.jsonl"
    link.symlink_to(target)
    assert finetune("convert", src, "--to", "zhipu", "-o", link).returncode == 0
    assert link.is_symlink() and read_jsonl(target) == [conversation(2)]


@pytest.mark.parametrize("name", ["o.jsonl", "o.val.jsonl"])
def test_report_that_is_an_output_is_refused(tmp_path: Path, name: str) -> None:
    """--report naming the (not yet existing) output or its validation file exits 2 before anything is
    written, instead of the output silently replacing the report at the end of the run."""
    src = jsonl(tmp_path / "in.jsonl", [conversation(i) for i in range(20)])
    out_dir = tmp_path / "out"
    done = finetune(
        "convert",
        src,
        "--to",
        "bailian",
        "-o",
        out_dir / "o.jsonl",
        "--val-fraction",
        "0.2",
        "--report",
        out_dir / name,
    )
    assert done.returncode == 2 and "is also an output of this run" in done.stderr and no_traceback(done.stderr)
    assert not out_dir.exists() or list(out_dir.iterdir()) == []
