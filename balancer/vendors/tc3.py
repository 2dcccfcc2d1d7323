"""Tencent Cloud API request signing, TC3-HMAC-SHA256 (signature v3), for any Tencent Cloud product.

Source: https://www.tencentcloud.com/document/api/1105/41894 ("Signature v3"); its worked example
(CVM DescribeInstances, timestamp 1551113065) is the unit-test vector.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNED_HEADERS = "content-type;host"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _date(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(timestamp))


def canonical_request(payload: bytes, host: str, content_type: str) -> str:
    """A POST to ``/`` with no query, signing the content-type and host headers."""
    headers = f"content-type:{content_type}\nhost:{host}\n"
    return f"POST\n/\n\n{headers}\n{SIGNED_HEADERS}\n{hashlib.sha256(payload).hexdigest()}"


def signature(secret_key: str, service: str, timestamp: int, canonical: str) -> str:
    """Sign with the derived key chain TC3+SecretKey -> date -> service -> "tc3_request"."""
    date = _date(timestamp)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{digest}"
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def authorization(secret_id: str, secret_key: str, service: str, timestamp: int, canonical: str) -> str:
    sig = signature(secret_key, service, timestamp, canonical)
    scope = f"{secret_id}/{_date(timestamp)}/{service}/tc3_request"
    return f"TC3-HMAC-SHA256 Credential={scope}, SignedHeaders={SIGNED_HEADERS}, Signature={sig}"
