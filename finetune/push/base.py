"""A vendor's fine-tuning API as data: where files go, how a job is created and read, and what its status
words mean in one set (``queued``, ``running``, ``succeeded``, ``failed``, ``cancelled``).

Two wire shapes are spoken (:mod:`finetune.push.client`): ``openai`` (``POST /files`` with ``file`` +
``purpose=fine-tune``, ``POST /fine_tuning/jobs``, ``GET /fine_tuning/jobs[/{id}]``) and ``dashscope``
(``POST /files`` with ``files`` + ``purpose``, ``POST /fine-tunes``, ``GET /fine-tunes[/{id}]``). A vendor
whose API cannot be driven with the key in the gateway's config has ``shape="unsupported"`` and says why.
Every fact carries its source in the module that states it; unconfirmed ones are listed in ``notes`` and
can be overridden (provider ``extra`` keys ``finetune.<key>``, or ``--set <key>=<value>``): ``base_url``,
``files_path``, ``jobs_path``, ``status.<VENDOR_WORD>=<one of STATES>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
Shape = Literal["openai", "dashscope", "unsupported"]


class OverrideError(ValueError):
    """A ``finetune.*`` override that names nothing or maps to no known state."""


@dataclass(frozen=True, slots=True)
class FineTuneApi:
    name: str  # the finetune target the file must be in
    vendors: tuple[str, ...]  # balancer vendor names whose providers this serves
    shape: Shape
    base_url: str
    source: str
    files_path: str = "/files"
    jobs_path: str = "/fine_tuning/jobs"
    statuses: Mapping[str, str] = field(default_factory=dict)  # vendor word -> one of STATES
    # Rewrites of a provider's chat base_url into the fine-tuning base: (old, new) substring pairs.
    rebase: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()  # unconfirmed facts, said plainly
    unsupported: str = ""  # why push cannot drive it, and what to do instead

    def state(self, word: str) -> str:
        """The one-set state of a vendor's status word (``unknown`` when neither mapped nor one of STATES)."""
        mapped = self.statuses.get(word) or self.statuses.get(word.upper()) or word.lower()
        return mapped if mapped in STATES else "unknown"

    def base_for(self, provider_base_url: str | None) -> str:
        """The fine-tuning base URL for a provider: its chat base_url rewritten, else the vendor's."""
        if not provider_base_url:
            return self.base_url
        url = provider_base_url.rstrip("/")
        for old, new in self.rebase:
            url = url.replace(old, new)
        return url


def with_overrides(api: FineTuneApi, settings: Mapping[str, str]) -> FineTuneApi:
    """``base_url``/``files_path``/``jobs_path`` and ``status.<WORD>`` overrides applied."""
    changes: dict[str, object] = {}
    statuses = dict(api.statuses)
    for key, value in settings.items():
        if key in ("base_url", "files_path", "jobs_path"):
            changes[key] = value
        elif key.startswith("status.") and value in STATES:
            statuses[key.removeprefix("status.")] = value
        else:
            raise OverrideError(
                f"{api.name}: no fine-tuning setting {key}={value!r} (base_url, files_path, jobs_path, "
                f"status.<WORD>=<{'|'.join(STATES)}>)"
            )
    return dataclasses.replace(api, statuses=statuses, **changes)  # type: ignore[arg-type]
