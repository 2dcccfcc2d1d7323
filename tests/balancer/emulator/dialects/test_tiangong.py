"""The emulator's Tiangong dialect: its md5 signature check against requests signed by the production hook."""

from __future__ import annotations

from balancer.emulator.dialects import tiangong as dialect
from balancer.vendors import tiangong


def test_rejects_stale_or_malformed_signatures() -> None:
    """The check wants all three headers, a fresh timestamp and, with a key set, the right digest."""
    good = tiangong.sign("a:b", b"", {}, 1000.0)
    assert dialect.check_auth(good, "a:b", b"", 1000.0) and dialect.check_auth(good, None, b"", 1010.0)
    assert not dialect.check_auth(good, "a:c", b"", 1000.0)
    assert not dialect.check_auth(good, "a:b", b"", 2000.0)  # more than 5 minutes old
    assert not dialect.check_auth({"app_key": "a"}, None, b"", 1000.0)
