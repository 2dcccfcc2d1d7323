"""The memo of refused field values: per candidate and value, for its time to live, bounded."""

from __future__ import annotations

from balancer.refusals import Refusals

TOOLS = b'[{"type":"function","function":{"name":"f","parameters":{"properties":{"x":{}}}}}]'


def _body(tools: bytes | None) -> dict[str, bytes]:
    return {} if tools is None else {"tools": tools}


def test_a_refused_value_is_remembered_for_that_candidate_and_value_until_it_expires() -> None:
    """The same bytes to the same candidate are refused until the time to live has passed; another value, another
    candidate (the same provider's other model too) or a request without the field are not."""
    memo = Refusals(ttl_s=60.0)
    memo.remember("kimi", "k2", "tools", TOOLS, "not a valid schema", now=100.0)
    hit = memo.refused("kimi", "k2", _body(TOOLS).get, now=159.0)
    assert hit is not None and (hit.field, hit.message) == ("tools", "not a valid schema")
    assert memo.refused("kimi", "k2", _body(TOOLS.replace(b"{}", b'{"type":"string"}')).get, now=100.0) is None
    assert memo.refused("kimi", "k1", _body(TOOLS).get, now=100.0) is None
    assert memo.refused("zhipu", "k2", _body(TOOLS).get, now=100.0) is None
    assert memo.refused("kimi", "k2", _body(None).get, now=100.0) is None
    assert memo.refused("kimi", "k2", _body(TOOLS).get, now=160.0) is None
    assert len(memo) == 0  # an expired entry found is dropped


def test_the_memo_keeps_its_newest_entries_within_its_bound() -> None:
    """Past ``max_entries`` the oldest entry goes; remembering a value again makes it the newest."""
    memo = Refusals(max_entries=2)
    values = [b"[%d]" % i for i in range(3)]
    memo.remember("kimi", "k2", "tools", values[0], "no", now=0.0)
    memo.remember("kimi", "k2", "tools", values[1], "no", now=0.0)
    memo.remember("kimi", "k2", "tools", values[0], "no", now=1.0)  # refreshed: now the newest
    memo.remember("kimi", "k2", "tools", values[2], "no", now=2.0)
    assert len(memo) == 2
    assert [memo.refused("kimi", "k2", _body(v).get, now=3.0) is not None for v in values] == [True, False, True]
