"""What a target is: capabilities (data), a writer, a reader, and the rules derived from both.

A target module builds one :class:`Target`. Everything the pipeline does differently per vendor is
read from :class:`Caps` — the shared code never checks a target's name. Facts the research could not
confirm are ordinary defaults here, listed in ``notes`` and overridable with ``--set NAME.KEY=VALUE``
(a ``Caps`` field or a writer option).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from finetune.model import Conversation
from finetune.targets.caps import Caps, Rule
from finetune.targets.rules import rules_for

__all__ = ["Caps", "Options", "OverrideError", "Reader", "Rule", "Target", "Writer", "with_overrides"]

Options = Mapping[str, str]
Writer = Callable[[Conversation, Options], Any]
Reader = Callable[[bytes], Conversation]


@dataclass(frozen=True, slots=True)
class Target:
    """A fine-tuning format: how to write it, read it back, and what it accepts."""

    name: str
    title: str
    source: str
    caps: Caps
    write: Writer
    read: Reader
    notes: tuple[str, ...] = ()
    #: A stricter reader for ``validate`` (e.g. one that refuses unknown keys); ``read`` if None.
    validate_read: Reader | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    extra_rules: tuple[Rule, ...] = ()
    #: Keys only some lines have. Every other key is on every line (empty strings or documented
    #: defaults fill the gaps). These are list-valued keys, written only when non-empty (an
    #: empty-list fill breaks columnar readers: pyarrow types ``[]`` as a list of nulls and then
    #: refuses the rows that carry values), and keys a template ties to a line's shape (Qianfan's
    #: preference history turns). ``validate``'s ``file.keys`` check leaves them out.
    sparse_keys: tuple[str, ...] = ()
    #: Where ``caps.max_file_bytes`` comes from (a URL), when it differs from ``source``.
    limits_source: str = ""
    tokenizer: Literal["qwen", "estimate"] = "estimate"
    #: Side files to write after conversion (e.g. LLaMA-Factory's dataset_info.json): path -> bytes.
    finish: Callable[[Path, Sequence[Path], Options, bool], dict[Path, bytes]] | None = None

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules this target enforces: derived from its caps, plus its own."""
        return (*rules_for(self.caps), *self.extra_rules)


class OverrideError(ValueError):
    """A ``--set`` value that names no option or cannot be parsed."""


def with_overrides(target: Target, settings: Mapping[str, str]) -> Target:
    """Apply ``KEY=VALUE`` settings to a target's caps or writer options."""
    caps_fields = {f.name: f for f in dataclasses.fields(Caps)}
    caps_changes: dict[str, Any] = {}
    options = dict(target.options)
    for key, value in settings.items():
        if key in caps_fields:
            caps_changes[key] = _parse(getattr(target.caps, key), value, key)
        elif key in options:
            options[key] = value
        else:
            known = ", ".join(sorted([*caps_fields, *options]))
            raise OverrideError(f"{target.name} has no setting {key!r} (known: {known})")
    caps = dataclasses.replace(target.caps, **caps_changes)
    return dataclasses.replace(target, caps=caps, options=options)


def _parse(current: object, value: str, key: str) -> object:
    if isinstance(current, bool):
        if value.lower() not in {"true", "false", "1", "0", "on", "off", "yes", "no"}:
            raise OverrideError(f"{key} takes true or false, not {value!r}")
        return value.lower() in {"true", "1", "on", "yes"}
    if isinstance(current, int) or (current is None and key.startswith("max_")):
        if value.lower() in {"none", ""}:
            return None
        try:
            return int(value)
        except ValueError:
            raise OverrideError(f"{key} takes an integer or none, not {value!r}") from None
    return value
