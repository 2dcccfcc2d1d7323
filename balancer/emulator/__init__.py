"""The vendor emulator: one local HTTP server that speaks every vendor's dialect under ``/<target>/``.

``server`` holds the control API and the vendor side; ``targets`` each emulated account's faults, limits,
balance and counters; ``replies`` the deterministic replies and the tokenizer; ``stream`` the streamed
replies and stream faults; ``dialects`` what each vendor's wire looks like (error bodies, stream framing,
balance body, signature check), by vendor name.
"""

from __future__ import annotations

from balancer.emulator.replies import count_tokens
from balancer.emulator.server import Emulator, make_app
from balancer.emulator.targets import FAULTS, Fault

__all__ = ["FAULTS", "Emulator", "Fault", "count_tokens", "make_app"]
