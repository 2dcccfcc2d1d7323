"""The credit planner's failures, as operators meet them: one log line per distinct failure, a reminder an hour
while it lasts, one line when a re-plan works again; and the record the status and metrics show, with the count of
plans found out of date between two periodic re-plans.

A failed re-plan leaves the plan in force (or, with none, the price order) routing; nothing here changes that.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from balancer.logs import describe

log = structlog.get_logger("balancer.gateway")

REMIND_S = 3600.0  # while the same failure lasts, it is logged again this often (with the count)


def where(e: BaseException) -> str:
    """Where it was raised: the innermost frame's file, line and function ("" when unknown)."""
    frames = traceback.extract_tb(e.__traceback__)
    if not frames:
        return ""
    f = frames[-1]
    return f"{Path(f.filename).name}:{f.lineno} in {f.name}"


@dataclass(slots=True)
class Replans:
    """Failed re-plans: the current run of them (reason, since, count) and the total per error class."""

    reason: str = ""  # the last failure's one-line reason ("": the last re-plan worked)
    since: float | None = None  # when the current run of failures began
    failures: int = 0  # consecutive failures
    last_failed_at: float | None = None
    total: dict[str, int] = field(default_factory=dict)  # every failed re-plan since start, by error class
    stale: dict[str, int] = field(default_factory=dict)  # plans found out of date (re-planned early), by reason
    _logged: tuple[str, str] = ("", "")  # (error class, where) last logged
    _logged_at: float = 0.0

    def failed(self, e: BaseException, now: float) -> None:
        """Count a failure; log it if it is new (another class or place than the last), else once an hour."""
        kind, at = type(e).__name__, where(e)
        self.reason, self.last_failed_at = describe(e), now
        self.failures += 1
        self.since = now if self.since is None else self.since
        self.total[kind] = self.total.get(kind, 0) + 1
        if (kind, at) != self._logged:
            log.error("replan_failed", reason=self.reason, where=at, failures=self.failures, kept="the plan in force")
        elif now - self._logged_at >= REMIND_S:
            log.error("replan_still_failing", reason=self.reason, failures=self.failures, since=self.since)
        else:
            return
        self._logged, self._logged_at = (kind, at), now

    def succeeded(self, now: float) -> None:
        """A re-plan worked: the run of failures ends (logged once, with how long it lasted)."""
        if self.failures:
            log.info("replan_recovered", failures=self.failures, failed_for_s=round(now - (self.since or now), 3))
        self.reason, self.since, self.failures, self._logged = "", None, 0, ("", "")

    def view(self) -> dict[str, Any]:
        """For the status: the current run of failures (``error`` None when there is none) and the totals."""
        error = None
        if self.failures:
            error = {"reason": self.reason, "since": self.since, "last_at": self.last_failed_at}
        return {
            "error": error,
            "consecutive_failures": self.failures,
            "failures_total": dict(self.total),
            "stale_total": dict(self.stale),
        }
