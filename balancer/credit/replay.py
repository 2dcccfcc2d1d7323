"""The demand a gateway actually served, read back from its own ``request_done`` log lines.

``balancer plan --replay FILES`` replays it through each routing strategy (:mod:`balancer.sim`)
and the offline optimum (:mod:`balancer.credit.bound`), so an operator sees what credit-burn would have
been worth on their own traffic before trusting it.

What is read, and how:

* Any number of files, plain or gzip (by the gzip magic bytes; a file named ``.gz`` without them is an
  error), in any order, streamed line by line (never a whole file in memory). A gzip file cut short (still
  being written, or by a crash) gives every whole line before the cut, with a warning naming it and the
  lines read; corrupt gzip data (a bad CRC, deflate data that is not) is an error, since its lines cannot
  be trusted. An empty file is a warning.
* A line that is not a JSON object (a console line, a traceback, a shell prefix with no ``{``) and every
  event other than ``request_done`` is ignored; a line with a prefix before its ``{`` (``kubectl logs
  --timestamps``, journald) is read from the ``{`` on. Lines that name ``request_done`` but are not JSON
  objects are counted (``unreadable``), and ``request_done`` lines whose route, status or tokens have the
  wrong type (``malformed``): neither is demand.
* Demand is what was **served**: a ``request_done`` line with status 200 and ``tokens`` (prompt and
  completion, as the vendor reported them or as the gateway estimated them for a reply or stream without usage).
  Those tokens are counted in the UTC hour of the line's ``timestamp`` (ISO 8601, as the gateway writes
  it, or epoch seconds). Hours between the first and the last line with no request are 0 demand.
* Bounded whatever the files hold (a character device such as ``/dev/zero`` is refused: it never ends):
  a timestamp outside the years 2000-2099 (epoch milliseconds, garbage) counts the line as undated; a
  line over MAX_LINE bytes is skipped in pieces; served hours spanning more than MAX_DAYS are refused
  with their dates, and ``since``/``until`` choose the hours to replay.
* Requests refused for capacity (503 ``no_capacity``) and failed ones carry no tokens on their line:
  their size is unknown, so they are **not** demand here; they are counted (``refused``) so the report
  can say the demand is understated. Batch replays (``replay: true``) carry no tokens either.
* A route's input share is its prompt tokens over its prompt + completion tokens over the whole span.
* Outages: none (``Trace.down`` is empty). A provider's failed attempts in the log say when it failed
  for some requests, not for how long it could serve none; inventing that would bias the comparison.
* A route in the logs that the config does not have is skipped (its tokens are counted apart and named
  in :attr:`Traffic.unknown_routes`); a config route absent from the logs has 0 demand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import math
import os
import stat
import zlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import orjson

from balancer.credit.pricing import INPUT_SHARE
from balancer.credit.trace import Trace

HOUR = 3600.0
_GZIP_MAGIC = b"\x1f\x8b"
MAX_LINE = 1 << 20  # bytes: a request_done line is under 2 KB; a longer one is skipped, never held whole
MAX_DAYS = 92  # the longest span replayed (the simulation and the optimum grow with it)
FIRST_HOUR = int(dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp() // HOUR)  # a timestamp outside these
LAST_HOUR = int(dt.datetime(2100, 1, 1, tzinfo=dt.UTC).timestamp() // HOUR)  # years is not a date (ms, garbage)


class ReplayError(Exception):
    """The logs cannot be replayed (no such file, unreadable, no request_done line); the message says why."""


@dataclass(slots=True)
class RouteTotals:
    requests: int = 0
    prompt: int = 0
    completion: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt + self.completion


@dataclass(slots=True)
class Traffic:
    """What the logs held: the trace of served demand and the counts the report shows beside it."""

    trace: Trace
    routes: dict[str, RouteTotals]  # the config's routes found in the logs
    unknown_routes: dict[str, RouteTotals] = field(default_factory=dict)  # in the logs, not in the config
    refused: dict[str, int] = field(default_factory=dict)  # route -> request_done lines served no tokens
    lines: int = 0  # lines read, all files
    done_lines: int = 0  # request_done lines among them
    undated: int = 0  # served lines with no readable timestamp (not counted)
    outside: int = 0  # served lines dated outside the window asked for (not counted)
    overlong: int = 0  # lines over MAX_LINE bytes (skipped unread)
    unreadable: int = 0  # lines naming request_done that are not JSON objects (not counted)
    malformed: int = 0  # request_done lines whose route, status or tokens has the wrong type (not counted)
    warnings: list[str] = field(default_factory=list)  # files read only in part, or empty


@dataclass(slots=True)
class _Tally:
    hourly: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))  # (route, hour) -> tokens
    routes: dict[str, RouteTotals] = field(default_factory=lambda: defaultdict(RouteTotals))
    refused: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lines: int = 0
    done_lines: int = 0
    undated: int = 0
    outside: int = 0
    overlong: int = 0
    unreadable: int = 0
    malformed: int = 0
    window: tuple[int, int] = (FIRST_HOUR, LAST_HOUR)  # the epoch hours counted: [first, last)
    warnings: list[str] = field(default_factory=list)
    warn: Callable[[str], None] | None = None

    def warning(self, message: str) -> None:
        self.warnings.append(message)
        if self.warn is not None:
            self.warn(message)


def read_traffic(paths: Iterable[str | Path], routes: Collection[str] | None = None) -> Trace:
    """The served demand in ``paths`` as a :class:`Trace` (see :func:`scan` for the counts beside it)."""
    return scan(paths, routes).trace


def scan(
    paths: Iterable[str | Path],
    routes: Collection[str] | None = None,
    since: float | None = None,
    until: float | None = None,
    warn: Callable[[str], None] | None = None,
) -> Traffic:
    """Read every file's ``request_done`` lines; ``routes``: the config's (others are skipped and named);
    ``since``/``until`` (epoch s): only the hours from the one holding ``since`` to the one before ``until``;
    ``warn`` is told, as each file is read, of one read only in part (a gzip file cut short) or empty (the
    warnings are in :attr:`Traffic.warnings` too).

    Raises :class:`ReplayError` when a file is missing, unreadable, not gzip though named ``.gz``, or corrupt
    gzip; when no file holds a request_done line, when none of them served a token on a route of the config,
    or when the served hours span more than MAX_DAYS (a window must be chosen)."""
    files = [Path(p) for p in paths]
    if not files:
        raise ReplayError("no log file given")
    tally = _Tally(warn=warn)
    first = FIRST_HOUR if since is None else max(FIRST_HOUR, int(since // HOUR))
    last = LAST_HOUR if until is None else min(LAST_HOUR, math.ceil(until / HOUR))
    tally.window = (first, last)
    for path in files:
        for record in _records(path, tally):
            _count(record, tally)
    known = {r: t for r, t in tally.routes.items() if routes is None or r in routes}
    unknown = {r: t for r, t in tally.routes.items() if r not in known}
    _check_served(tally, files, known, unknown)
    _check_span(tally, known)
    trace = _trace(tally, known, routes)
    refused = {r: n for r, n in sorted(tally.refused.items()) if routes is None or r in routes}
    return Traffic(
        trace,
        dict(sorted(known.items())),
        dict(sorted(unknown.items())),
        refused,
        tally.lines,
        tally.done_lines,
        tally.undated,
        tally.outside,
        tally.overlong,
        tally.unreadable,
        tally.malformed,
        tally.warnings,
    )


def _check_served(
    tally: _Tally, files: list[Path], known: dict[str, RouteTotals], unknown: dict[str, RouteTotals]
) -> None:
    """A ReplayError saying why, when the files hold no request_done line or no served token on a known route."""
    if not tally.done_lines:
        hint = (
            f"; {tally.unreadable} line(s) name request_done but are not JSON objects: does the gateway log JSON "
            "(logging.format: json)?"
            if tally.unreadable
            else ""
        )
        raise ReplayError(f"no request_done line in {_names(files)} ({tally.lines} line(s) read{hint})")
    if not any(t.tokens for t in known.values()):
        what = f" (only on routes not in the config: {', '.join(sorted(unknown))})" if unknown else ""
        if tally.undated or tally.outside:
            what += f" ({tally.undated} undated: no timestamp in 2000-2099; {tally.outside} outside --since/--until)"
        if tally.malformed:
            what += f" ({tally.malformed} request_done line(s) with a route, status or tokens of the wrong type)"
        raise ReplayError(f"no served request with tokens in {_names(files)}{what}")


def _check_span(tally: _Tally, known: Collection[str]) -> None:
    hours = [h for (r, h) in tally.hourly if r in known]
    first, last = min(hours), max(hours)
    days = (last - first + 1) / 24
    if days > MAX_DAYS:
        raise ReplayError(
            f"the served requests span {days:.0f} days ({_stamp(first)} .. {_stamp(last)}); at most {MAX_DAYS} "
            "days are replayed at once: choose the days with --since/--until"
        )


def _stamp(hour: int) -> str:
    return dt.datetime.fromtimestamp(hour * HOUR, dt.UTC).strftime("%Y-%m-%dT%H:00Z")


def _names(paths: list[Path]) -> str:
    return ", ".join(str(p) for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


@contextlib.contextmanager
def _open(path: Path, tally: _Tally) -> Iterator[IO[bytes]]:
    """The file as bytes, decompressed when it is gzip (by suffix or by its first two bytes)."""
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise ReplayError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReplayError(f"{path}: a directory; name the log files in it (e.g. {path}/*.log*)") from None
    except OSError as e:
        raise ReplayError(f"{path}: cannot read: {e.strerror}") from None
    with raw:
        if stat.S_ISCHR(os.fstat(raw.fileno()).st_mode):  # /dev/zero, /dev/urandom: endless, never a log
            raise ReplayError(f"{path}: a character device, not a log file")
        head = raw.peek(2)[:2]
        if not head:
            tally.warning(f"{path}: empty file (nothing read from it)")
        elif head == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield cast(IO[bytes], unzipped)
            return
        elif path.suffix == ".gz":
            raise ReplayError(f"{path}: named .gz but not gzip (it does not start with gzip's magic bytes 1f 8b)")
        yield raw


def _records(path: Path, tally: _Tally) -> Iterator[dict[str, Any]]:
    """The ``request_done`` objects in one file, streamed line by line. A gzip file cut short (being written, or
    by a crash) gives its whole lines before the cut, with a warning; corrupt gzip data is a ReplayError."""
    before = tally.lines
    with _open(path, tally) as f:
        try:
            for line in _lines(f, tally):
                tally.lines += 1
                if b"request_done" not in line:  # cheap: most lines of a busy log are other events
                    continue
                record = _parse(line)
                if record is None:
                    tally.unreadable += 1
                elif record.get("event") == "request_done":
                    tally.done_lines += 1
                    yield record
        except EOFError:  # the gzip stream ends before its end marker
            read = tally.lines - before
            tally.warning(
                f"{path}: truncated gzip file (it ends before gzip's end-of-stream marker: still being written, "
                f"or cut short); read its {read:,} whole line(s) before the cut, the rest is lost"
            )
        except (OSError, zlib.error) as e:  # a bad CRC or length, deflate data that is not, a read error
            raise ReplayError(
                f"{path}: corrupt or unreadable after line {tally.lines - before:,} ({e}); its lines cannot be "
                "trusted: leave the file out"
            ) from None


def _lines(f: IO[bytes], tally: _Tally) -> Iterator[bytes]:
    """The file's lines; one longer than MAX_LINE is counted and skipped in MAX_LINE pieces (an endless line
    costs time, never memory)."""
    while line := f.readline(MAX_LINE):
        if len(line) < MAX_LINE or line.endswith(b"\n"):
            yield line
            continue
        tally.overlong += 1
        while (rest := f.readline(MAX_LINE)) and not rest.endswith(b"\n"):
            pass
        yield b""  # counted as a line, read as nothing


def _parse(line: bytes) -> dict[str, Any] | None:
    start = line.find(b"{")
    if start < 0:
        return None
    try:
        value = orjson.loads(line[start:])
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _count(record: dict[str, Any], tally: _Tally) -> None:
    route, status = record.get("route"), record.get("status")
    if route is None:  # refused before routing, or another endpoint (admin, models): not a route's demand
        return
    if not isinstance(route, str) or type(status) is not int or ("tokens" in record and _tokens(record) is None):
        tally.malformed += 1  # not a line the gateway wrote: counted apart, never guessed at
        return
    tokens = _tokens(record)
    if tokens is None or status != 200:
        tally.refused[route] += 1
        return
    hour = _hour(record.get("timestamp"))
    if hour is None:
        tally.undated += 1
        return
    if not tally.window[0] <= hour < tally.window[1]:
        tally.outside += 1
        return
    prompt, completion = tokens
    totals = tally.routes[route]
    totals.requests += 1
    totals.prompt += prompt
    totals.completion += completion
    tally.hourly[route, hour] += prompt + completion


def _tokens(record: dict[str, Any]) -> tuple[int, int] | None:
    tokens = record.get("tokens")
    if not isinstance(tokens, dict):
        return None
    prompt, completion = tokens.get("prompt"), tokens.get("completion")
    if type(prompt) is not int or type(completion) is not int or prompt < 0 or completion < 0:
        return None  # (a bool is no count)
    return prompt, completion


def _hour(stamp: object) -> int | None:
    """The epoch hour of a line's timestamp (ISO 8601, naive taken as UTC, or epoch seconds); None if absent,
    unreadable or outside the years 2000-2099 (epoch milliseconds read as seconds land far past them)."""
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        hour = stamp / HOUR if math.isfinite(stamp) else -1.0
    elif isinstance(stamp, str):
        try:
            t = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return None
        hour = (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp() / HOUR
    else:
        return None
    return int(hour // 1) if FIRST_HOUR <= hour < LAST_HOUR else None


def _trace(tally: _Tally, known: dict[str, RouteTotals], routes: Collection[str] | None) -> Trace:
    first = min(h for (r, h) in tally.hourly if r in known)
    last = max(h for (r, h) in tally.hourly if r in known)
    hours = last - first + 1
    names = sorted(set(routes) if routes is not None else set(known))
    demand = {r: np.zeros(hours) for r in names}
    for (route, hour), tokens in tally.hourly.items():
        if route in known:
            demand[route][hour - first] += tokens
    share = {r: known[r].prompt / known[r].tokens if r in known and known[r].tokens else INPUT_SHARE for r in names}
    return Trace(start=first * HOUR, hours=hours, demand=demand, input_share=share)
