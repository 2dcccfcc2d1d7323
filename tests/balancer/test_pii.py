"""PII scrubbing: what is replaced, what survives, and that text is never normalised."""

from __future__ import annotations

import pytest

from balancer.pii import Scrubber, id_checksum_ok, luhn_ok

VALID_ID = "11010519491231002X"  # GB 11643 example number with a valid check digit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("请拨13812345678，谢谢！", "请拨[PHONE]，谢谢！"),
        ("电话：+86 138 1234 5678。", "电话：[PHONE]。"),
        (f"身份证号{VALID_ID}。", "身份证号[ID]。"),
        ("卡号4111 1111 1111 1111（测试）", "卡号[CARD]（测试）"),
        ("邮件 zhang.san@example.com.cn ！", "邮件 [EMAIL] ！"),
    ],
)
def test_pii_is_replaced(text: str, expected: str) -> None:
    """Phone numbers, checksummed IDs, Luhn-valid cards and emails become placeholders."""
    assert Scrubber().scrub(text) == (expected, 1)


@pytest.mark.parametrize(
    "text",
    [
        "订单号4111111111111112",
        "身份证号110105194912310021",
        "编号12345678901",
        "全角标点，。！？（）：保持不变",
    ],
)
def test_lookalikes_and_text_survive(text: str) -> None:
    """Digit runs failing their checksum, non-mobile numbers and full-width punctuation stay byte for byte."""
    assert Scrubber().scrub(text) == (text, 0)


def test_checksums() -> None:
    """The ID check digit and the Luhn check accept valid and refuse altered numbers."""
    assert id_checksum_ok(VALID_ID) and not id_checksum_ok("110105194912310021")
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")


def test_scrub_obj_walks_nested_values() -> None:
    """Nested dicts and lists are scrubbed and the replacements counted."""
    obj, n = Scrubber().scrub_obj({"a": ["13812345678", {"b": "x@y.com"}], "n": 3})
    assert obj == {"a": ["[PHONE]", {"b": "[EMAIL]"}], "n": 3} and n == 2
