"""One judgement for ``convert`` and ``validate``: the same rules, limits and file checks, the same severities.

Per sample: the target's rules (:func:`check`), then the token limit. Per file, in both: the sample
minimum (``limits.min_samples``, a warning) and samples of different kinds in one file
(``file.mixed``, a warning). ``validate`` only, because ``convert`` cannot produce them: a file over
the size cap (``limits.file_size``; ``convert`` splits into parts instead) and lines whose keys
differ (``file.keys``, a warning: columnar loaders refuse such files; ``convert`` writes the same
keys on every line by construction).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import msgspec
from msgspec import UNSET

from balancer.wire import untrusted_json
from finetune.model import Conversation
from finetune.report import Action
from finetune.scan import Scan, clean, scan
from finetune.targets.base import Target
from finetune.tokens import TokenCounter, conversation_tokens, counter_for

#: ``(rule_id, json_path, reason)`` for one broken rule.
Finding = tuple[str, str, str]
#: ``(rule_id, reason, action)`` for one file-level finding.
FileFinding = tuple[str, str, Action]


def check(target: Target, conv: Conversation, s: Scan | None = None) -> list[Finding]:
    """``(rule_id, path, reason)`` for every rule of ``target`` this conversation breaks."""
    rules = target.extra_rules if clean(s or scan(conv), conv, target.caps) else target.rules
    return [(r.id, path, why) for r in rules for path, why in r.check(conv, target.caps)]


class Judge:
    """Judges samples and files for one target; counts what it accepted."""

    def __init__(self, target: Target, max_tokens: int | None = None) -> None:
        self.target = target
        self.max_tokens = max_tokens or target.caps.max_tokens
        self.counter: TokenCounter | None = counter_for(target.tokenizer) if self.max_tokens else None
        self.tokens = 0
        self.sft = 0
        self._other: Counter[str] = Counter()

    def sample(self, conv: Conversation, s: Scan | None = None) -> list[Finding]:
        """The rules this sample breaks; if none, whether it fits the token limit."""
        found = check(self.target, conv, s)
        if found or self.counter is None or self.max_tokens is None:
            return found
        n = conversation_tokens(conv, self.counter)
        self.tokens += n
        if n <= self.max_tokens:
            return []
        label = "" if self.counter.exact else " (estimate)"
        return [("limits.tokens", "$", f"{n} tokens{label}, the limit is {self.max_tokens}")]

    def accept(self, conv: Conversation) -> None:
        """Count a sample that passed (and, in ``convert``, was written)."""
        if conv.preferred_output is UNSET and conv.non_preferred_output is UNSET and conv.ranked_outputs is UNSET:
            self.sft += 1  # the common case, without building the kind
        else:
            self._other[conv.kind] += 1

    @property
    def kinds(self) -> Counter[str]:
        """Accepted samples by kind (sft, dpo, kto, ranking)."""
        return Counter({"sft": self.sft, **self._other}) if self.sft else Counter(self._other)

    def file(self) -> list[FileFinding]:
        """Findings about the accepted samples as a whole."""
        found: list[FileFinding] = []
        n, least = sum(self.kinds.values()), self.target.caps.min_samples
        if least is not None and n < least:
            found.append(("limits.min_samples", f"{n} samples; {self.target.name} wants at least {least}", "warning"))
        if len(self.kinds) > 1:
            mix = ", ".join(f"{count} {kind}" for kind, count in self.kinds.most_common())
            reason = f"samples of different kinds in one file ({mix}): vendors train one kind per file"
            found.append(("file.mixed", reason, "warning"))
        return found

    def size(self, path: Path) -> list[FileFinding]:
        """The file against the target's size cap (for ``validate``; ``convert`` splits instead)."""
        cap, size = self.target.caps.max_file_bytes, path.stat().st_size
        if cap is None or size <= cap:
            return []
        reason = (
            f"{size / 1e6:.1f} MB; {self.target.name} refuses files over {cap / 1e6:.0f} MB "
            f"({self.target.limits_source or self.target.source}); convert --to {self.target.name} splits into parts"
        )
        return [("limits.file_size", reason, "rejected")]


_keys_of_object = msgspec.json.Decoder(dict[str, msgspec.Raw])
_keys_of_array = msgspec.json.Decoder(list[dict[str, msgspec.Raw]])


def line_keys(line: bytes) -> tuple[str, ...] | None:
    """The top-level keys of a JSON object line (for an array of objects, the union of their keys)."""
    try:
        if line.lstrip()[:1] == b"[":
            seen: dict[str, None] = {}
            for element in untrusted_json(_keys_of_array.decode, line):
                seen.update(dict.fromkeys(element))
            return tuple(seen)
        return tuple(untrusted_json(_keys_of_object.decode, line))
    except msgspec.DecodeError:  # not JSON, or no decoder reads it (the reader reports it)
        return None


class KeyCheck:
    """Notices the first line whose keys differ from the first line's (``file.keys``)."""

    def __init__(self, target: Target) -> None:
        self.sparse = frozenset(target.sparse_keys)
        self.first: tuple[int, frozenset[str]] | None = None
        self.finding: tuple[int, FileFinding] | None = None

    def line(self, number: int, line: bytes) -> None:
        """Look at one line (cheap after the first difference: it stops looking)."""
        if self.finding is not None:
            return
        keys = line_keys(line)
        if keys is None:
            return
        shape = frozenset(keys) - self.sparse
        if self.first is None:
            self.first = (number, shape)
        elif shape != self.first[1]:
            self.finding = (number, ("file.keys", self._reason(shape), "warning"))

    def _reason(self, shape: frozenset[str]) -> str:
        assert self.first is not None
        first_line, first = self.first
        missing, extra = ", ".join(sorted(first - shape)) or "-", ", ".join(sorted(shape - first)) or "-"
        return (
            f"keys differ from line {first_line} (missing: {missing}; extra: {extra}); columnar loaders "
            "such as Baidu's qianfan SDK, pyarrow and HF datasets refuse files whose lines differ"
        )


def findings(judge: Judge, key_check: KeyCheck) -> Iterator[tuple[int, FileFinding]]:
    """Every file-level finding of ``validate``, with the line it concerns (0 for the whole file)."""
    if key_check.finding is not None:
        yield key_check.finding
    for f in judge.file():
        yield 0, f
