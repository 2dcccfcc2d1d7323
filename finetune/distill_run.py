"""One ``distill`` run's state, shared by the concurrent and the ``--batch`` paths: settings, checkpoint,
progress and the failures to report."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from finetune.answer import Answer
from finetune.checkpoint import Checkpoint
from finetune.prompts import Prompt
from finetune.teacher import Failed, Progress


@dataclass(slots=True)
class Run:
    """One distill run: its settings, checkpoint, progress and failures."""

    args: argparse.Namespace
    key: str
    checkpoint: Checkpoint
    progress: Progress
    failures: list[tuple[str, str]] = field(default_factory=list)  # (file:line, reason)

    def keep(self, prompt: Prompt, answer: Answer, price_factor: float = 1.0) -> None:
        self.checkpoint.add(
            {"key": prompt.key, "message": answer.message, "provider": answer.provider,
             "model": answer.model, "usage": answer.usage, "where": prompt.where}
        )  # fmt: skip
        self._spent(prompt, answer, price_factor)
        self.progress.answered(answer.usage)

    def reject(self, prompt: Prompt, failure: Failed) -> None:
        """An answer that was paid for but cannot be training data: remembered, so it is not asked again."""
        self.checkpoint.add({"key": prompt.key, "rejected": str(failure), "where": prompt.where})
        if failure.answer is not None:
            self._spent(prompt, failure.answer)
        self.fail(prompt.where, str(failure))

    def _spent(self, prompt: Prompt, answer: Answer, price_factor: float = 1.0) -> None:
        """Price a paid answer; one whose usage is no token counts is counted as of unknown cost, and reported."""
        if answer.usage_unreadable is None:
            self.progress.spend.add(answer.provider, answer.model, answer.usage, price_factor)
            return
        self.progress.spend.unknown += 1
        self.note(prompt.where, f"{answer.usage_unreadable}: its cost is unknown, not in the spend")

    def note(self, where: str, reason: str) -> None:
        """What is reported with the failures but is no prompt's failure (a batch output line naming no request, an
        answer kept whose cost is unknown)."""
        self.failures.append((where, reason))

    def fail(self, where: str, reason: str) -> None:
        self.failures.append((where, reason))
        self.progress.failed += 1
        self.progress.show()
