"""PII scrubbing: Chinese mobile numbers, 身份证 numbers (checksum), bank cards (Luhn), emails.

Only text that matches *and* passes its checksum is replaced, so order numbers and other digit runs
survive. Replacement tokens are ASCII placeholders; nothing else in the text changes (no
normalisation: full-width punctuation stays byte-for-byte).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from balancer.jsonwalk import rebuild
from balancer.nesting import too_deep

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_D = "[0-9０-９]"  # ASCII or full-width digits (IME input); checksums read both (int() does)
#: 18 characters, or spaced 6-8-4 as printed on forms.
_ID = re.compile(rf"(?<![0-9０-９A-Za-z])[1-9１-９]{_D}{{5}} ?{_D}{{8}} ?{_D}{{3}}[0-9０-９Xx](?![0-9０-９A-Za-z])")
#: 16 to 19 digits, grouped by 4 or not; a 19-digit UnionPay card prints as 4-4-4-4-3.
_CARD = re.compile(rf"(?<!{_D})((?:{_D}{{4}}[ -]?){{3}}{_D}{{4}})([ -]?{_D}{{1,3}})?(?!{_D})")
_MOBILE = re.compile(rf"(?<!{_D})(?:[+＋]?86[ -]?)?[1１][3-9３-９]{_D}(?:[ -]?{_D}{{4}}){{2}}(?!{_D})")
_ANY = re.compile(r"[0-9０-９@]")
_SEP = re.compile(r"[ -]")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def id_checksum_ok(number: str) -> bool:
    """GB 11643 check digit of an 18-character resident ID number."""
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum used by bank card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class Scrubber:
    """Replaces PII with placeholders; :meth:`scrub` returns the text and how many items it replaced."""

    def __init__(self, placeholders: tuple[str, str, str, str] = ("[ID]", "[CARD]", "[PHONE]", "[EMAIL]")) -> None:
        self._tokens = placeholders

    def scrub(self, text: str) -> tuple[str, int]:
        """``(scrubbed_text, replacements)``; the text is returned as is when nothing matched."""
        if _ANY.search(text) is None:
            return text, 0
        count = 0

        def sub(pattern: re.Pattern[str], token: str, ok: Any) -> None:
            nonlocal text, count

            def repl(m: re.Match[str]) -> str:
                nonlocal count
                if ok(m.group(0)):
                    count += 1
                    return token
                return m.group(0)

            text = pattern.sub(repl, text)

        def card(m: re.Match[str]) -> str:  # the whole run, else its first 16 digits with what follows
            nonlocal count
            head, tail = m.group(1), m.group(2) or ""
            if luhn_ok(_SEP.sub("", m.group(0))):
                count += 1
                return card_token
            if tail[:1] in (" ", "-") and luhn_ok(_SEP.sub("", head)):
                count += 1
                return card_token + tail
            return m.group(0)

        id_token, card_token, mobile_token, email_token = self._tokens
        sub(_ID, id_token, lambda s: id_checksum_ok(_SEP.sub("", s)))
        text = _CARD.sub(card, text)
        sub(_MOBILE, mobile_token, lambda s: True)
        sub(_EMAIL, email_token, lambda s: True)
        return text, count

    def scrub_obj(self, obj: Any, numbers: bool = True) -> tuple[Any, int]:
        """Scrub every string inside nested dicts and lists (for transcript records), at any depth (the walk keeps
        its own stack: :func:`balancer.jsonwalk.rebuild`). A string holding a JSON object or array (a tool call's
        arguments) is scrubbed as JSON and stays JSON (nested deeper than :func:`embedded_json` reads, as text); an
        integer that is PII (``13800138000``) becomes its placeholder string, unless ``numbers`` is False (a JSON
        Schema: its numbers are bounds and defaults, and a string there would make it invalid)."""
        count = 0

        def leaf(value: Any) -> Any:
            nonlocal count
            if isinstance(value, str):
                if (inner := embedded_json(value)) is not None:
                    clean, n = self.scrub_obj(inner)
                    count += n
                    return json_text(clean) if n else value
                text, n = self.scrub(value)
                count += n
                return text
            if numbers and isinstance(value, int) and not isinstance(value, bool) and value >= 10**10:  # 11+ digits
                text, n = self.scrub(str(value))
                count += n
                return text if n else value
            return value

        return rebuild(obj, leaf), count


def looks_like_json(text: str) -> bool:
    """Whether a string starts like a JSON object or array (blanks before it allowed)."""
    return text[:1] in ("{", "[") or text.lstrip()[:1] in ("{", "[")


def embedded_json(text: str) -> dict[str, Any] | list[Any] | None:
    """The JSON object or array a string holds (a tool call's ``arguments``, a tool's JSON result), else None: None
    too for JSON nested deeper than a body may be (:data:`balancer.nesting.MAX_DEPTH`), which is read as text, so
    that no string can make a walk over what it holds, or its encoding, deeper than that."""
    if not looks_like_json(text):
        return None
    if too_deep(text.encode("utf-8", "surrogatepass")):
        return None
    try:
        value = msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError):  # text that is no JSON (deeper than it was counted, too)
        return None
    return value if isinstance(value, dict | list) else None


def json_text(value: Any) -> str:
    """``value`` as compact JSON text (UTF-8 kept, not escaped)."""
    return msgspec.json.encode(value).decode()
