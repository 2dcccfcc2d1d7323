"""``finetune stats``: what a file holds, what each target would reject, and what training would cost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from msgspec import Struct

from finetune.io import numbered_lines, open_input
from finetune.judge import check
from finetune.model import Conversation
from finetune.pipeline import LINE_ERRORS
from finetune.prices import DEFAULT_EPOCHS, estimate_cost
from finetune.readers import Reader, close_reader
from finetune.report import Action
from finetune.scan import scan
from finetune.targets import TARGETS
from finetune.tokens import TokenCounter, conversation_tokens
from finetune.transforms import Settings, prepare


class Stats(Struct, kw_only=True):
    """Counts over one file."""

    lines: int = 0
    samples: int = 0
    preference: int = 0
    turns: int = 0
    messages: int = 0
    tokens: int = 0
    max_tokens: int = 0
    unreadable: int = 0
    rejects: dict[str, int] = {}


def _ignore(rule: str, reason: str, action: Action = "rejected") -> None:
    return None


def collect(
    path: Path, reader: Reader, counter: TokenCounter, on_line: Callable[[int], None] | None = None
) -> Stats:
    """Read ``path`` once and count everything, including per-target would-be rejections."""
    st = Stats()
    rejects: Counter[str] = Counter()
    with open_input(path) as stream:
        for number, line in numbered_lines(stream):
            st.lines += 1
            if on_line is not None and not number & 1023:
                on_line(number)
            try:
                conv = reader(line)
            except LINE_ERRORS:
                st.unreadable += 1
                continue
            _count(st, conv, counter)
            for name in _rejecting(conv):
                rejects[name] += 1
    close_reader(reader)
    st.rejects = dict(rejects)
    return st


def _count(st: Stats, conv: Conversation, counter: TokenCounter) -> None:
    st.samples += 1
    st.preference += conv.is_preference
    st.turns += sum(1 for m in conv.messages if m.role == "user")
    st.messages += len(conv.messages)
    tokens = conversation_tokens(conv, counter)
    st.tokens += tokens
    st.max_tokens = max(st.max_tokens, tokens)


def _rejecting(conv: Conversation) -> list[str]:
    names = []
    s = scan(conv)
    for name, target in TARGETS.items():
        samples = prepare(conv, s, target.caps, settings=Settings(), note=_ignore)
        if not samples or any(check(target, x) for x in samples):
            names.append(name)
    return names


def render(path: Path, st: Stats, counter: TokenCounter, epochs: int = DEFAULT_EPOCHS) -> str:
    """A readable table of the counts and costs."""
    label = counter.name if counter.exact else "estimate"
    out = [
        f"{path}",
        f"  lines {st.lines}, samples {st.samples} ({st.preference} preference), unreadable {st.unreadable}",
        f"  user turns {st.turns}, messages {st.messages}",
        f"  tokens {st.tokens} ({label}), largest sample {st.max_tokens}",
        "  would be rejected (before --weights/--split-turns choices):",
    ]
    out += [f"    {name:<14} {st.rejects.get(name, 0)}" for name in TARGETS]
    out.append(f"  estimated training cost, {epochs} epochs ({label} tokens):")
    out += [
        f"    {p.target + '/' + p.model:<38}{'>=' if p.at_least else '':>2}{cost:>10.2f} {p.currency}"
        for p, cost in estimate_cost(st.tokens, epochs)
    ]
    out.append("  other targets: price unknown (see finetune/prices.py)")
    return "\n".join(out)
