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
        self.progress.spend.add(answer.provider, answer.model, answer.usage, price_factor)
        self.progress.answered(answer.usage)

    def reject(self, prompt: Prompt, failure: Failed) -> None:
        """An answer that was paid for but cannot be training data: remembered, so it is not asked again."""
        self.checkpoint.add({"key": prompt.key, "rejected": str(failure), "where": prompt.where})
        if failure.answer is not None:
            self.progress.spend.add(failure.answer.provider, failure.answer.model, failure.answer.usage)
        self.fail(prompt.where, str(failure))

    def note(self, where: str, reason: str) -> None:
        """A problem that is no prompt's failure (a batch output line naming no request), reported with them."""
        self.failures.append((where, reason))

    def fail(self, where: str, reason: str) -> None:
        self.failures.append((where, reason))
        self.progress.failed += 1
        self.progress.show()
