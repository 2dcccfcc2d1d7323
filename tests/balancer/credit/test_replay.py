"""Replaying the gateway's own request_done logs into a demand trace (``balancer plan --replay``)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import signal
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
import yaml

from balancer import config as config_mod
from balancer.credit import replay
from tests.conftest import CLIENT_KEY, EmulatorHandle, base_config, wait_ready
from tests.redis_server import free_port

T0 = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC).timestamp()  # a UTC hour boundary
ROUTES = ("chat", "solo", "kimi", "embed")


def done_line(route: str, prompt: int, completion: int, t: float, status: int = 200, **extra: Any) -> str:
    """A request_done line as the gateway writes it in JSON mode (``logs.request_done``)."""
    stamp = dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")
    fields: dict[str, Any] = {"route": route, "client": "tests", "stream": False, "status": status}
    if status == 200:
        fields |= {"provider": "ds-a", "model": "deepseek-chat", "tokens": {"prompt": prompt, "completion": completion}}
    fields |= {"request_id": "r", "ms": 1.0, "event": "request_done", "level": "info", "timestamp": stamp, **extra}
    return json.dumps(fields)


def write(path: Path, lines: list[str], gz: bool = False) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


async def _served_log(
    tmp_path: Path, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> tuple[Path, Path, dict[str, list[int]]]:
    """A real ``balancer serve`` (JSON logs to a file) sent 24 chat requests on two routes, some streamed:
    the log file, the config file, and the usage the client saw per route (prompt, completion)."""
    raw: dict[str, Any] = base_config(emulator.url)
    port = free_port()
    raw["server"], raw["logging"] = {"port": port}, {"format": "json"}
    raw["providers"]["ds-a"]["account"] = {"grants": [{"name": "pack", "tokens": 50_000, "models": ["deepseek-chat"]}]}
    raw["providers"]["qwen"]["account"] = {"grants": [{"name": "old", "amount": 5.0, "expires": "2020-01-31"}]}
    cfg_file, log_file = tmp_path / "qiao.yaml", tmp_path / "gateway.log"
    cfg_file.write_text(yaml.safe_dump(raw))
    seen = {"chat": [0, 0], "solo": [0, 0]}
    with log_file.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "balancer", "serve", "--config", str(cfg_file)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_ready(http, url, proc)
            async with openai.AsyncOpenAI(base_url=url + "/v1", api_key=CLIENT_KEY, max_retries=0) as client:
                for i in range(24):
                    route = "chat" if i % 3 else "solo"
                    usage = await _ask(client, route, f"question {i} " * (i + 1), stream=i % 4 == 1)
                    seen[route][0] += usage.prompt_tokens
                    seen[route][1] += usage.completion_tokens
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    return log_file, cfg_file, seen


async def _ask(client: openai.AsyncOpenAI, route: str, text: str, stream: bool) -> Any:
    messages: Any = [{"role": "user", "content": text}]
    if not stream:
        reply = await client.chat.completions.create(model=route, messages=messages)
        return reply.usage
    usage = None
    chunks = await client.chat.completions.create(
        model=route, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    async for chunk in chunks:
        usage = chunk.usage or usage
    assert usage is not None
    return usage


async def test_a_real_gateway_log_gives_the_tokens_its_clients_saw(
    tmp_path: Path, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """The log a real gateway writes (JSON, other events mixed in) replays to exactly the prompt and completion
    tokens the responses' usage reported, per route, within the hour(s) it ran; routes not used are 0."""
    log_file, cfg_file, seen = await _served_log(tmp_path, emulator, http)
    cfg = config_mod.load(str(cfg_file))
    traffic = replay.scan([log_file], cfg.routes)
    assert {r: [t.prompt, t.completion] for r, t in traffic.routes.items()} == seen
    assert traffic.routes["chat"].requests == 16 and traffic.routes["solo"].requests == 8
    trace = traffic.trace
    assert trace.start % 3600 == 0 and trace.hours in (1, 2)
    assert set(trace.demand) == set(cfg.routes) and trace.demand["kimi"].sum() == 0
    assert trace.demand["chat"].sum() == sum(seen["chat"])
    assert trace.input_share["solo"] == pytest.approx(seen["solo"][0] / sum(seen["solo"]))
    assert traffic.lines > traffic.done_lines == 24  # the gateway's other lines (listening, stopped) were skipped


def test_hours_files_order_and_gzip(tmp_path: Path) -> None:
    """Lines in several files, in any order, plain and gzip (by suffix or by magic bytes alone), land in their UTC
    hour; an hour with no line is 0 demand; the input share is prompt over all tokens over the span."""
    a = write(tmp_path / "a.log", [done_line("chat", 300, 100, T0 + 3 * 3600 + 5), done_line("chat", 30, 10, T0 + 10)])
    b = write(tmp_path / "b.log.gz", [done_line("solo", 50, 50, T0 + 3599)], gz=True)
    c = write(tmp_path / "rotated.1", [done_line("chat", 60, 0, T0 + 1)], gz=True)  # gzip, no suffix
    trace = replay.read_traffic([a, b, c], ROUTES)
    assert trace.start == T0 and trace.hours == 4
    assert list(trace.demand["chat"]) == [100, 0, 0, 400]
    assert list(trace.demand["solo"]) == [100, 0, 0, 0]
    assert trace.input_share["chat"] == pytest.approx(390 / 500) and trace.input_share["solo"] == 0.5
    assert trace.down == {}


def test_garbage_other_events_and_refusals_are_not_demand(tmp_path: Path) -> None:
    """Console lines, broken JSON, JSON that is not an object, other events, a prefix before the JSON, and
    request_done lines without tokens (refused for capacity, failed, another endpoint's refusal) add no demand;
    the refused ones are counted per route."""
    lines = [
        "2026-03-01 10:00:01 [info] gateway_listening port=8080",
        '{"event": "request_done", "route": "chat", "tokens": {"prompt": 5',
        "[1, 2, 3]",
        json.dumps({"event": "gateway_listening", "route": "chat", "tokens": {"prompt": 1, "completion": 1}}),
        "2026-03-01T10:00:02Z stdout F " + done_line("chat", 7, 3, T0 + 2),
        done_line("chat", 0, 0, T0 + 3, status=503, error="no_capacity"),
        done_line("chat", 0, 0, T0 + 4, status=502, error="upstream_error"),
        json.dumps({"event": "request_done", "path": "/admin/x", "status": 401, "timestamp": "2026-03-01T10:00:05Z"}),
        "\x00\xff not text at all",
    ]
    traffic = replay.scan([write(tmp_path / "mixed.log", lines)], ROUTES)
    assert traffic.routes["chat"].tokens == 10 and traffic.routes["chat"].requests == 1
    assert traffic.refused == {"chat": 2}
    assert traffic.done_lines == 4


def test_a_route_not_in_the_config_is_skipped_and_named(tmp_path: Path) -> None:
    """A route the config lacks is left out of the trace and reported with its requests and tokens."""
    f = write(tmp_path / "x.log", [done_line("chat", 10, 10, T0), done_line("gone", 40, 60, T0 + 7200)])
    traffic = replay.scan([f], ROUTES)
    assert "gone" not in traffic.trace.demand and traffic.trace.hours == 1
    assert traffic.unknown_routes["gone"].tokens == 100


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "no request_done line"),
        (["not json", '{"event": "gateway_listening"}'], "no request_done line"),
        ([done_line("chat", 0, 0, T0, status=503)], "no served request with tokens"),
    ],
)
def test_logs_with_nothing_to_replay_are_refused(tmp_path: Path, lines: list[str], message: str) -> None:
    """An empty file, one with no request_done line, or one with no served tokens: a ReplayError saying so."""
    with pytest.raises(replay.ReplayError, match=message):
        replay.scan([write(tmp_path / "empty.log", lines)], ROUTES)


def _whole_lines(gz: bytes) -> list[bytes]:
    """The whole lines a gzip stream cut anywhere holds, as zlib decompresses them (the partial last one left out)."""
    text = zlib.decompressobj(31).decompress(gz)
    return text.split(b"\n")[:-1]


async def test_a_truncated_gzip_log_gives_every_whole_line_before_the_cut(
    tmp_path: Path, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A real gateway log, gzipped and cut short (mid-stream, just before gzip's trailer, inside its header):
    every whole line before the cut is read, and its served tokens counted, with one warning naming the file,
    saying it is truncated and how many lines were read; the file's other lines are lost, not guessed."""
    log_file, cfg_file, _ = await _served_log(tmp_path, emulator, http)
    routes = config_mod.load(str(cfg_file)).routes
    full = gzip.compress(log_file.read_bytes())
    for cut in (len(full) * 2 // 3, len(full) - 4, 6):
        part = tmp_path / "cut.log.gz"
        part.write_bytes(full[:cut])
        whole = _whole_lines(full[:cut])
        served = [json.loads(line) for line in whole if b'"request_done"' in line]
        warned: list[str] = []
        if not served:
            with pytest.raises(replay.ReplayError, match="no request_done line"):
                replay.scan([part], routes, warn=warned.append)
        else:
            traffic = replay.scan([part], routes, warn=warned.append)
            assert traffic.lines == len(whole) and traffic.done_lines == len(served)
            assert sum(r.tokens for r in traffic.routes.values()) == sum(
                d["tokens"]["prompt"] + d["tokens"]["completion"] for d in served if d["status"] == 200
            )
            assert traffic.warnings == warned
        assert len(warned) == 1 and str(part) in warned[0] and "truncated" in warned[0]
        assert f"read its {len(whole):,} whole line(s)" in warned[0]


def test_missing_corrupt_and_hostile_files_are_clear_errors(tmp_path: Path) -> None:
    """A missing file, a directory, a file named .gz that is not gzip, and gzip data that is corrupt (deflate
    data that is not, a bad CRC) each raise a ReplayError naming the file and what is wrong, never another
    exception; an empty file is a warning beside the files that count."""
    data = ("\n".join(done_line("chat", 1, 1, T0) for _ in range(500)) + "\n").encode()
    full = gzip.compress(data)
    files = {
        "nope.log": (None, "no such file"),
        "dir": (b"", "a directory; name the log files in it"),
        "plain.log.gz": (data, "named .gz but not gzip"),
        "deflate.log.gz": (full[:10] + b"\xff" + full[11:], "corrupt or unreadable after line 0 .*invalid block type"),
        "crc.log.gz": (full[:-8] + bytes([full[-8] ^ 1]) + full[-7:], "corrupt .*after line 500 .*CRC check failed"),
    }
    for name, (content, message) in files.items():
        path = tmp_path / name
        if name == "dir":
            path.mkdir()
        elif content is not None:
            path.write_bytes(content)
        with pytest.raises(replay.ReplayError, match=re.escape(str(path)) + ": " + message):
            replay.scan([path], ROUTES)
    warned: list[str] = []
    empty, good = write(tmp_path / "empty.log.gz", []), write(tmp_path / "ok.log", [done_line("chat", 1, 2, T0)])
    empty.write_bytes(b"")
    assert replay.scan([empty, good], ROUTES, warn=warned.append).routes["chat"].tokens == 3
    assert warned == [f"{empty}: empty file (nothing read from it)"]
    with pytest.raises(replay.ReplayError, match="only on routes not in the config: gone"):
        replay.scan([write(tmp_path / "g.log", [done_line("gone", 1, 1, T0)])], ROUTES)


def test_hostile_request_done_lines_are_counted_never_demand(tmp_path: Path) -> None:
    """request_done lines that are not JSON objects (console format, NaN, a number past a double, bytes that
    are not UTF-8, nesting past the parser's depth) are counted as unreadable; ones whose route, status or
    tokens have the wrong type (a bool or a float for a count, an integer past 64 bits, a list, a string status)
    as malformed; none is demand, the good line beside them is, and a log of only such lines says so."""
    good = done_line("chat", 7, 3, T0)
    unreadable = [
        b"2026-03-01 10:00:01 [info     ] request_done   route=chat status=200",
        b'{"event": "request_done", "route": "chat", "status": 200, "tokens": {"prompt": NaN, "completion": 1}}',
        b'{"event": "request_done", "route": "chat", "status": 200, "tokens": {"prompt": 1' + b"0" * 400 + b"}}",
        b'{"event": "request_done", "route": "ch\xffat"}',
        b'{"event": "request_done", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ]
    fields = json.loads(good)
    malformed = [
        json.dumps(fields | change)
        for change in (
            {"tokens": {"prompt": True, "completion": 1}},
            {"tokens": {"prompt": 1.5, "completion": 1}},
            {"tokens": {"prompt": 10**30, "completion": 1}},  # past 64 bits: read as a float
            {"tokens": [1, 1]},
            {"route": ["chat"]},
            {"status": "200"},
        )
    ]
    path = tmp_path / "x.log"
    path.write_bytes(b"\n".join([*unreadable, *(m.encode() for m in malformed), good.encode()]) + b"\n")
    traffic = replay.scan([path], ROUTES)
    assert (traffic.unreadable, traffic.malformed, traffic.routes["chat"].tokens) == (5, 6, 10)
    assert traffic.refused == {}
    path.write_bytes(b"\n".join(m.encode() for m in malformed))
    with pytest.raises(replay.ReplayError, match=r"6 request_done line.* of the wrong type"):
        replay.scan([path], ROUTES)
    path.write_bytes(unreadable[0])
    with pytest.raises(replay.ReplayError, match=r"not JSON objects: does the gateway log JSON"):
        replay.scan([path], ROUTES)


def stamped(stamp: object, prompt: int = 7, completion: int = 3) -> str:
    """A served request_done line on route chat with ``stamp`` as its timestamp, whatever its type."""
    fields = {"event": "request_done", "route": "chat", "status": 200, "timestamp": stamp}
    return json.dumps(fields | {"tokens": {"prompt": prompt, "completion": completion}})


@pytest.mark.parametrize(
    "stamp",
    [
        T0 * 1000,  # epoch milliseconds: read as seconds, the year 58,000
        253402300799,  # 9999-12-31 in epoch seconds
        -1e300,  # before any calendar
        "9999-12-31T23:00:00Z",
        "1970-01-01T00:00:00",
        "0001-01-01T00:00:00+14:00",
        "yesterday",
        None,
        True,
    ],
)
def test_a_timestamp_outside_2000_2099_is_undated_not_a_span(tmp_path: Path, stamp: object) -> None:
    """A served line whose timestamp is unreadable or outside the years 2000-2099 (epoch ms, garbage, the far past
    or future) is counted as undated and adds no hour: the trace keeps the span of the dated lines (before: one
    such line made the trace span millennia, and the replay ran out of memory or raised OverflowError)."""
    f = write(tmp_path / "x.log", [done_line("chat", 90, 10, T0), stamped(stamp), done_line("chat", 9, 1, T0 + 7200)])
    traffic = replay.scan([f], ROUTES)
    assert (traffic.trace.start, traffic.trace.hours, traffic.undated) == (T0, 3, 1)
    assert traffic.routes["chat"].tokens == 110
    with pytest.raises(replay.ReplayError, match="1 undated"):
        replay.scan([write(tmp_path / "only.log", [stamped(stamp)])], ROUTES)


def test_a_span_past_max_days_is_refused_and_a_window_chooses_the_days(tmp_path: Path) -> None:
    """Served lines more than MAX_DAYS apart: a ReplayError naming the span and --since/--until; with since/until
    only the hours from since's to the one before until count, the others are counted as outside."""
    far = T0 + (replay.MAX_DAYS + 1) * 86400.0
    f = write(tmp_path / "x.log", [done_line("chat", 90, 10, T0), done_line("chat", 9, 1, far), stamped(far + 60)])
    with pytest.raises(replay.ReplayError, match=rf"span {replay.MAX_DAYS + 1} days .*--since/--until"):
        replay.scan([f], ROUTES)
    late = replay.scan([f], ROUTES, since=far - 1800)  # within the hour before far's: that hour on
    assert (late.trace.start, late.trace.hours, late.outside, late.routes["chat"].tokens) == (far, 1, 1, 20)
    early = replay.scan([f], ROUTES, until=T0 + 1)  # before until: the hour holding T0 only
    assert (early.trace.start, early.trace.hours, early.outside, early.routes["chat"].tokens) == (T0, 1, 2, 100)
    with pytest.raises(replay.ReplayError, match="3 outside --since/--until"):
        replay.scan([f], ROUTES, since=T0 + 3600, until=far - 3600)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_character_device_is_refused_at_once(device: str) -> None:
    """/dev/zero and /dev/urandom never end: reading them would skip endless pieces forever. They are refused by
    name before a byte is read (the CLI's exit 2 is in test_replay_cli)."""
    with pytest.raises(replay.ReplayError, match=f"{device}: a character device, not a log file"):
        replay.scan([Path(device)], ROUTES)


def test_an_endless_line_is_skipped_in_bounded_pieces(tmp_path: Path) -> None:
    """A line longer than MAX_LINE (a pasted blob, a binary file with no newline) is counted and skipped, and the
    lines after it still count; reading it never holds it whole (it is read in MAX_LINE pieces)."""
    blob = b"{" + b"\x00request_done" * (3 * replay.MAX_LINE // 13)
    path = tmp_path / "x.log"
    path.write_bytes(
        b"\n".join([done_line("chat", 1, 1, T0).encode(), blob, done_line("chat", 5, 5, T0 + 10).encode()])
    )
    traffic = replay.scan([path], ROUTES)
    assert (traffic.overlong, traffic.lines, traffic.routes["chat"].tokens) == (1, 3, 12)
    path.write_bytes(blob)  # nothing but the blob: no request_done line was read
    with pytest.raises(replay.ReplayError, match=r"no request_done line .*\(1 line"):
        replay.scan([path], ROUTES)
