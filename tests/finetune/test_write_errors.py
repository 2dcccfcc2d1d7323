"""Writing fails: a full disk, a read-only file system, an output that is a device.

Every test runs ``python -m finetune`` as a child process, as a user would. A full disk is a real
200 KB tmpfs mounted for the test; where mounting is not permitted, the child runs with a 200 KB file size
limit instead (RLIMIT_FSIZE: the write fails with EFBIG, "file too large", through the same code).
"""

from __future__ import annotations

import os
import resource
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.finetune.conftest import finetune, jsonl, no_traceback


def conversation(i: int) -> dict[str, object]:
    """A distinct, valid one-turn conversation, about 250 bytes once converted."""
    return {
        "messages": [
            {"role": "user", "content": f"问题{i}：" + "天气如何？" * 20},
            {"role": "assistant", "content": "晴。"},
        ]
    }


@dataclass
class Disk:
    """A directory where writes fail past 200 KB, how a child must run for that, and the reason it then gives."""

    path: Path
    run: dict[str, Any] = field(default_factory=dict)
    full: str = "no space left on device"


def _mount(where: Path, options: str) -> bool:
    """Mount a tmpfs at ``where``; False when mounting is not permitted here."""
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
    return done.returncode == 0


def _small_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def mount_tmpfs(where: Path, options: str) -> Iterator[Path]:
    """Mount a tmpfs at ``where`` for one test; skip the test when mounting is not permitted."""
    if not _mount(where, options):
        pytest.skip("mount not permitted here, so no read-only file system to write to")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Disk]:
    """A directory on a 200 KB tmpfs, or (no mount permitted) one a child writes under a 200 KB file limit."""
    where = tmp_path / "small"
    if not _mount(where, "size=200k"):
        yield Disk(where, {"preexec_fn": _small_files}, "file too large")
        return
    try:
        yield Disk(where)
    finally:
        subprocess.run(["umount", str(where)], check=True)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A directory on a read-only tmpfs."""
    yield from mount_tmpfs(tmp_path / "ro", "ro,size=200k")


@pytest.fixture
def big_input(tmp_path: Path) -> Path:
    """An input that converts to about 1.5 MB: far more than the small disk holds."""
    return jsonl(tmp_path / "in.jsonl", [conversation(i) for i in range(5000)])


def one_message(stderr: str) -> str:
    """The single ``finetune:`` line of a failed run (and no traceback)."""
    assert no_traceback(stderr), stderr
    lines = [line for line in stderr.splitlines() if line.startswith("finetune:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_full_disk_names_the_output_and_keeps_the_old_one(small_disk: Disk, big_input: Path) -> None:
    """Filling the disk while writing -o exits 2 with one line naming the output and the cause; the
    previous output is byte-identical and no temporary file is left next to it."""
    out = small_disk.path / "out.jsonl"
    out.write_bytes(b'{"older":"run"}\n')
    done = finetune("convert", big_input, "--to", "bailian", "-o", out, **small_disk.run)
    assert done.returncode == 2, done.stderr
    line = one_message(done.stderr)
    assert f"cannot write {out}: {small_disk.full}" in line
    assert "untouched" in line and "no partial file" in line
    assert out.read_bytes() == b'{"older":"run"}\n'
    assert sorted(p.name for p in small_disk.path.iterdir()) == ["out.jsonl"]


@pytest.mark.parametrize("command", ["convert", "validate"])
def test_full_disk_names_the_report(tmp_path: Path, small_disk: Disk, big_input: Path, command: str) -> None:
    """A --report that fills the disk exits 2 naming the report; the previous report is kept as it was,
    no partial report or temporary file is left, and convert's own output is not written either."""
    report = small_disk.path / "issues.jsonl"
    report.write_bytes(b'{"older":"report"}\n')
    out = tmp_path / "out.jsonl"
    where = ["--to", "bailian", "-o", out] if command == "convert" else ["--for", "bailian"]
    done = finetune(command, big_input, *where, "--report", report, "--max-tokens", "1", "-q", **small_disk.run)
    assert done.returncode == 2, done.stderr
    line = one_message(done.stderr)
    assert f"cannot write {report}: {small_disk.full}" in line
    assert report.read_bytes() == b'{"older":"report"}\n'
    assert sorted(p.name for p in small_disk.path.iterdir()) == ["issues.jsonl"]
    assert not out.exists()


def test_read_only_file_system_names_the_output(read_only: Path, tmp_path: Path) -> None:
    """-o on a read-only file system exits 2 with one line naming the output and 'read-only file system'."""
    src = jsonl(tmp_path / "in.jsonl", [conversation(1)])
    out = read_only / "out.jsonl"
    done = finetune("convert", src, "--to", "bailian", "-o", out)
    assert done.returncode == 2, done.stderr
    assert f"cannot write {out}: read-only file system" in one_message(done.stderr)


def test_output_that_is_a_device_is_refused(tmp_path: Path) -> None:
    """-o naming a character device (a private copy of /dev/full) is refused with exit 2 before anything is
    written; the device node stays a device instead of being replaced by a regular file."""
    device = tmp_path / "full"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError as exc:
        pytest.skip(f"mknod not permitted here, so no device node to write to: {exc}")
    src = jsonl(tmp_path / "in.jsonl", [conversation(1)])
    done = finetune("convert", src, "--to", "bailian", "-o", device)
    assert done.returncode == 2, done.stderr
    assert f"{device} is a character device, not a regular file" in one_message(done.stderr)
    assert stat.S_ISCHR(device.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "in.jsonl"]
