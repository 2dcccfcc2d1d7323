"""Line reading and size-capped JSONL writing."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import pytest

from finetune.io import UnreadableInput, incomplete_tail, numbered_lines, open_input
from finetune.output import JsonlSink, sibling


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


def gzip_sync_flushed(lines: list[bytes]) -> bytes:
    """A gzip member holding ``lines``, sync-flushed after each, with no end-of-stream marker."""
    raw = io.BytesIO()
    gz = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0)
    for line in lines:
        gz.write(line)
        gz.flush(zlib.Z_SYNC_FLUSH)
    return raw.getvalue()  # the GzipFile is never closed: no trailer, like a file still being written


def read_all(path: Path) -> tuple[bytes, int | None]:
    """Everything ``open_input`` yields for a file, and what it reports as left for later."""
    with open_input(path) as stream:
        data = b"".join(stream)
        return data, incomplete_tail(stream)


def test_growing_gzip_reads_complete_lines_and_reports_the_rest(tmp_path: Path) -> None:
    """A gzip file without its end marker yields every complete line and reports the partial one."""
    lines = [b'{"n":1,"t":"\xe4\xbd\xa0\xe5\xa5\xbd"}\n', b'{"n":2}\n', b'{"n":3,"partial":']
    (tmp_path / "live.jsonl.gz").write_bytes(gzip_sync_flushed(lines))
    data, left = read_all(tmp_path / "live.jsonl.gz")
    assert data == lines[0] + lines[1]
    assert left == len(lines[2])


def test_cut_anywhere_never_yields_a_partial_line(tmp_path: Path) -> None:
    """A gzip file cut at any byte yields only whole lines, a prefix of the real content."""
    content = b"".join(b'{"line":%d,"text":"\xe5\xa4\xa9\xe6\xb0\x94"}\n' % i for i in range(40))
    whole = gzip.compress(content, mtime=0)
    for cut in range(2, len(whole), 7):
        (tmp_path / "cut.gz").write_bytes(whole[:cut])
        data, left = read_all(tmp_path / "cut.gz")
        assert content.startswith(data)
        assert data == b"" or data.endswith(b"\n")
        assert left is not None


def test_complete_gzip_keeps_an_unterminated_last_line(tmp_path: Path) -> None:
    """A complete gzip file is read to its end, a last line without newline included."""
    (tmp_path / "done.gz").write_bytes(gzip.compress(b'{"a":1}\n{"b":2}', mtime=0))
    assert read_all(tmp_path / "done.gz") == (b'{"a":1}\n{"b":2}', None)


def test_concatenated_members_and_zero_padding(tmp_path: Path) -> None:
    """Several gzip members (as rotation or `cat a.gz b.gz` make) and trailing zeros read as one."""
    data = gzip.compress(b"a\n", mtime=0) + gzip.compress(b"b\n", mtime=0) + b"\x00" * 8
    (tmp_path / "multi.gz").write_bytes(data)
    assert read_all(tmp_path / "multi.gz") == (b"a\nb\n", None)


def test_damaged_gzip_names_file_and_offset(tmp_path: Path) -> None:
    """Corrupt deflate data raises UnreadableInput naming the file and where, not a zlib traceback."""
    whole = bytearray(gzip.compress(b"x" * 1000 + b"\n", mtime=0))
    whole[12:16] = b"\xff\xff\xff\xff"
    (tmp_path / "bad.gz").write_bytes(bytes(whole))
    with pytest.raises(UnreadableInput, match=r"bad\.gz: damaged gzip data near byte \d+"):
        read_all(tmp_path / "bad.gz")


def test_members_and_lines_across_read_chunks(tmp_path: Path) -> None:
    """Member boundaries and lines that straddle the reader's compressed chunks read back exactly."""
    import random

    rng = random.Random(7)
    lines = [
        ("".join(f"{rng.getrandbits(256):064x}" for _ in range(rng.randint(1, 12))) + "\n").encode()
        for _ in range(400)
    ]
    members = [gzip.compress(b"".join(lines[i : i + 37]), mtime=0) for i in range(0, len(lines), 37)]
    data = b"".join(members)
    assert len(data) > 4 * (1 << 14)  # several reads, member ends inside them
    (tmp_path / "many.gz").write_bytes(data)
    assert read_all(tmp_path / "many.gz") == (b"".join(lines), None)
    (tmp_path / "cut.gz").write_bytes(data[: len(data) - len(members[-1]) // 2])
    got, left = read_all(tmp_path / "cut.gz")
    assert b"".join(lines).startswith(got) and got.endswith(b"\n") and left is not None
