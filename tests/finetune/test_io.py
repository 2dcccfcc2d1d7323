"""Line reading and size-capped JSONL writing."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from finetune.io import JsonlSink, numbered_lines, open_input, sibling


def test_line_numbers_count_blank_lines() -> None:
    """Blank lines are skipped but still counted, so reported numbers match an editor's."""
    stream = io.BytesIO(b'{"a":1}\n\n   \n{"b":2}\n')
    assert [n for n, _ in numbered_lines(stream)] == [1, 4]


def test_gzip_detected_by_magic_not_name(tmp_path: Path) -> None:
    """A gzip file named .jsonl is decompressed; a plain file named .gz is read as is."""
    (tmp_path / "a.jsonl").write_bytes(gzip.compress(b"x\n"))
    (tmp_path / "b.gz").write_bytes(b"y\n")
    with open_input(tmp_path / "a.jsonl") as a, open_input(tmp_path / "b.gz") as b:
        assert (a.read(), b.read()) == (b"x\n", b"y\n")


def test_sink_rolls_over_before_the_cap(tmp_path: Path) -> None:
    """A capped sink starts out.part2.jsonl before a line would exceed the cap; lines never split."""
    sink = JsonlSink(tmp_path / "out.jsonl", max_bytes=50)
    for i in range(5):
        sink.write({"i": i, "t": "数据"})
    sink.close()
    assert [p.name for p in sink.paths] == ["out.jsonl", "out.part2.jsonl", "out.part3.jsonl"]
    assert sum(len(p.read_bytes().splitlines()) for p in sink.paths) == 5 == sink.lines


def test_sibling_names() -> None:
    """The validation file sits next to the output with a tag before .jsonl."""
    assert sibling(Path("d/train.jsonl"), "val") == Path("d/train.val.jsonl")
    assert sibling(Path("d/train.json"), "val") == Path("d/train.val.json")
