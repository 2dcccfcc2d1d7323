"""How an attempt reads what a vendor sent: the vendor's rules on a whole reply or one stream chunk.

A failure's text reaches the client and the log, so it is read again with every configured secret scrubbed
when the vendor's body holds one (some proxies echo the request). :func:`mapped_chunk` runs a vendor's mapping
hook (its shape to OpenAI's), and a hook that fails on a body makes a malformed reply, not our crash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from balancer import replies
from balancer.errors import Failure, Outcome
from balancer.secrets import Scrubber
from balancer.vendors import openai_compat as compat
from balancer.vendors.base import BytesMap, Vendor


class Judge:
    """The vendor's rules, read at ``clock``'s time, with failures' text scrubbed by ``scrub``."""

    def __init__(self, scrub: Scrubber, clock: Callable[[], float]) -> None:
        self.scrub = scrub
        self.clock = clock

    def reply(
        self, vendor: Vendor, status: int, headers: Mapping[str, str], data: bytes
    ) -> tuple[Outcome, replies.ReplyView | None]:
        """The vendor's rules on a whole reply. A failure is classified again from the body with every configured
        secret scrubbed, when it holds one: its message reaches the client and the log."""
        outcome, view = compat.classify_reply(vendor, status, headers, data, self.clock())
        if not outcome.ok and self.scrub.hits(data):
            outcome, view = compat.classify_reply(vendor, status, headers, self.scrub(data), self.clock())
        return outcome, view

    def mapped(
        self, vendor: Vendor, payload: bytes, error: bool = False
    ) -> tuple[bytes, Outcome, replies.ReplyView | None]:
        """One stream chunk mapped to OpenAI's shape (:func:`mapped_chunk`) and classified. ``error``: it came in
        an SSE ``event: error``, a failure whatever its data's shape. A failure keeps the vendor's words
        (:func:`~balancer.vendors.openai_compat.classify_error_event`), scrubbed of every configured secret."""
        mapped = mapped_chunk(vendor.map_chunk, payload)
        if isinstance(mapped, Outcome):
            outcome, view = mapped, None
        else:
            outcome, view = self.chunk(vendor, mapped)
            if outcome.ok and not error:
                return mapped, outcome, view
        if error or not outcome.message:  # an error event, or a failure without the vendor's words
            data = self.scrub(payload) if self.scrub.hits(payload) else payload
            outcome = compat.classify_error_event(vendor, outcome, data, self.clock())
        return payload, outcome, view

    def chunk(self, vendor: Vendor, data: bytes) -> tuple[Outcome, replies.ReplyView | None]:
        """The vendor's rules on one stream chunk; a failure's text is scrubbed like a reply's."""
        outcome, view = compat.classify_chunk(vendor, data, self.clock())
        if not outcome.ok and self.scrub.hits(data):
            outcome, view = compat.classify_chunk(vendor, self.scrub(data), self.clock())
        return outcome, view


def mapped_chunk(hook: BytesMap | None, payload: bytes) -> bytes | Outcome:
    """A vendor's reply or chunk mapped by ``hook`` (a vendor's to OpenAI's shape, or the gateway's reshaping for the
    client: :func:`balancer.shapes.embeddings_base64`); a malformed-response outcome when the hook fails on it
    (JSON of a shape or depth the mapping does not expect is a malformed reply, not our crash)."""
    if hook is None:
        return payload
    try:
        return hook(payload)
    except Exception as e:  # whatever the upstream sent: the hook's failure is the reply's fault
        message = f"the reply has a shape the mapping does not expect ({type(e).__name__})"
        return Outcome(failure=Failure.MALFORMED_RESPONSE, code="malformed", message=message)
