"""The emulator's Hunyuan native dialect: its TC3 signature check."""

from __future__ import annotations

from balancer.emulator.dialects import hunyuan_native as dialect
from balancer.vendors import hunyuan_native, tc3


def test_verify_documented_vector() -> None:
    """Tencent's worked signature-v3 example verifies with its key pair, and not with another secret."""
    payload = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    canonical = tc3.canonical_request(payload, "cvm.tencentcloudapi.com", "application/json; charset=utf-8")
    header = (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    )
    assert dialect.verify(
        header, "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", "Gu5t9xGARNpq86cd98joQYCN3*******", 1551113065, canonical
    )
    assert not dialect.verify(header, "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", "other", 1551113065, canonical)


def test_check_auth_covers_the_body() -> None:
    """A request signed by the production hook passes the check; the same headers over another body do not."""
    body = hunyuan_native.map_request(
        b'{"model":"hunyuan-turbo","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"tools":[]}'
    )
    h = hunyuan_native.sign("id:key", body, {"region": "ap-guangzhou"}, 1_700_000_000.5)
    assert dialect.check_auth(h, "id:key", body, 1_700_000_010.0)
    assert not dialect.check_auth(h, "id:key", body + b" ", 1_700_000_010.0)  # body tampered
