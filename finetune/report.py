"""What happened to each line: rejected, altered or warned about, with the rule that decided it.

Every decision the pipeline makes about a line becomes an :class:`Issue` (input line number, rule id,
JSON path, readable reason). The :class:`Report` prints them, counts them by rule and, in strict mode,
stops at the first rejection by raising :class:`StrictFailure`.

Exit codes (also in README.md): ``0`` success; ``1`` a rejected line in ``--strict`` mode, more
rejected lines than ``--max-reject`` allows, or ``validate`` found problems; ``2`` usage error (bad
arguments, unknown or unsupported target, an output that is an input, unreadable input, unwritable
output); ``128 + signal`` when interrupted (see ``finetune.cli``).
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import IO, Literal

import msgspec
from msgspec import Struct

EXIT_OK = 0
EXIT_REJECTS = 1
EXIT_USAGE = 2

#: ``rejected``: broke a rule; ``altered``: changed by a transform; ``skipped``: left out by the
#: user's own choice (filters, dedup) — not a failure, even in strict mode; ``warning``: kept as is.
Action = Literal["rejected", "altered", "skipped", "warning"]


class Issue(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One finding about one input line."""

    line: int
    rule: str
    reason: str
    action: Action = "rejected"
    path: str = ""
    file: str = ""

    def render(self) -> str:
        """``file:line: action [rule] path: reason`` for humans."""
        if self.file:
            where = f"{self.file}:{self.line}" if self.line else self.file
        else:
            where = f"line {self.line}" if self.line else "output"
        path = f" {self.path}" if self.path else ""
        return f"{where}: {self.action} [{self.rule}]{path}: {self.reason}"


class StrictFailure(Exception):
    """Raised in strict mode at the first rejected line."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.render())
        self.issue = issue


class Report:
    """Collects issues: prints each (up to ``max_printed``), counts by rule, optionally logs JSONL."""

    def __init__(
        self,
        *,
        strict: bool = False,
        out: IO[str] | None = None,
        jsonl: IO[bytes] | None = None,
        max_printed: int = 200,
    ) -> None:
        self.strict = strict
        self.out = out if out is not None else sys.stderr
        self.jsonl = jsonl
        self.max_printed = max_printed
        self.by_rule: Counter[str] = Counter()
        self.by_action: Counter[str] = Counter()
        self._encoder = msgspec.json.Encoder()

    def add(self, issue: Issue) -> None:
        """Record one issue; raise :class:`StrictFailure` for a rejection in strict mode."""
        self.by_rule[f"{issue.action}:{issue.rule}"] += 1
        self.by_action[issue.action] += 1
        if self.jsonl is not None:
            self.jsonl.write(self._encoder.encode(issue) + b"\n")
        if sum(self.by_action.values()) <= self.max_printed:
            print(issue.render(), file=self.out)
        if self.strict and issue.action == "rejected":
            raise StrictFailure(issue)

    @property
    def rejected(self) -> int:
        """How many lines were rejected."""
        return self.by_action["rejected"]

    def summary(self) -> str:
        """Counts by action and rule, one per line, most frequent first."""
        if not self.by_rule:
            return "no issues"
        lines = [f"{n:>8}  {key}" for key, n in self.by_rule.most_common()]
        hidden = sum(self.by_action.values()) - self.max_printed
        if hidden > 0:
            lines.append(f"({hidden} further issues counted but not printed; use --report FILE)")
        return "\n".join(lines)
