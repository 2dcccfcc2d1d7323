"""Request validation as OpenAI does it: types, roles, ranges and n, refused with a 400 naming the field
before any vendor is asked."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest

from tests.conftest import EmulatorHandle, GatewayHandle, auth

USER = [{"role": "user", "content": "hi"}]


async def vendor_requests(emulator: EmulatorHandle) -> int:
    """Chat and embeddings requests the emulator received, all vendors together."""
    return sum(t["requests"] for t in (await emulator.stats()).values())


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("messages_not_objects", {"messages": [1, 2]}, "invalid_type", "messages[0]"),
    ("second_message_not_object", {"messages": [*USER, "hello"]}, "invalid_type", "messages[1]"),
    ("unknown_role", {"messages": [{"role": "wizard", "content": "x"}]}, "invalid_value", "messages[0].role"),
    ("role_not_string", {"messages": [*USER, {"role": 7}]}, "invalid_type", "messages[1].role"),
    ("missing_role", {"messages": [{"content": "x"}]}, "missing_required_parameter", "messages[0].role"),
    ("n_too_large", {"n": 1000}, "integer_above_max_value", "n"),
    ("n_zero", {"n": 0}, "integer_below_min_value", "n"),
    ("n_not_integer", {"n": 1.5}, "invalid_type", "n"),
    ("temperature_negative", {"temperature": -5}, "decimal_below_min_value", "temperature"),
    ("temperature_1e308", {"temperature": 1e308}, "decimal_above_max_value", "temperature"),
    ("top_p_above_one", {"top_p": 1.01}, "decimal_above_max_value", "top_p"),
    ("presence_penalty", {"presence_penalty": 2.5}, "decimal_above_max_value", "presence_penalty"),
    ("frequency_penalty", {"frequency_penalty": -3}, "decimal_below_min_value", "frequency_penalty"),
    ("temperature_string", {"temperature": "hot"}, "invalid_type", "temperature"),
    ("tools_not_array", {"tools": {"type": "function"}}, "invalid_type", "tools"),
    ("max_completion_tokens_zero", {"max_completion_tokens": 0}, "integer_below_min_value", "max_completion_tokens"),
]


@pytest.mark.parametrize(("name", "fields", "code", "param"), CASES, ids=[c[0] for c in CASES])
async def test_invalid_requests_are_refused_naming_the_field(
    gateway: GatewayHandle, emulator: EmulatorHandle, name: str, fields: dict[str, Any], code: str, param: str
) -> None:
    """Each ill-formed request is a 400 (the SDK raises BadRequestError) with OpenAI's code and the field's
    path as param, and no vendor receives it."""
    body: dict[str, Any] = {"model": "chat", "messages": USER, **fields}
    with pytest.raises(openai.BadRequestError) as exc:
        await gateway.client().chat.completions.create(**body)
    err = exc.value.body
    assert isinstance(err, dict)
    assert (err["code"], err["param"], err["type"]) == (code, param, "invalid_request_error")
    assert param in err["message"]
    assert await vendor_requests(emulator) == 0


async def test_numbers_at_their_bounds_and_nulls_are_served(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """The bounds themselves are valid, and JSON null is 'not given' for OpenAI's nullable parameters."""
    client = gateway.client()
    for fields in (
        {"temperature": 2, "top_p": 0, "presence_penalty": -2, "frequency_penalty": 2, "n": 1},
        {"temperature": 0.0, "top_p": 1.0},
    ):
        reply = await client.chat.completions.create(model="chat", messages=USER, **fields)  # type: ignore[call-overload]
        assert reply.choices
    roles = [{"role": r, "content": "x"} for r in ("system", "developer", "user")]
    reply = await client.chat.completions.create(model="chat", messages=roles)  # type: ignore[arg-type]
    assert reply.choices
    nulls = {"model": "chat", "messages": USER, "temperature": None, "n": None, "stream": None, "tools": None}
    async with http.post(gateway.url + "/v1/chat/completions", json=nulls, headers=auth()) as r:
        assert r.status == 200, await r.text()
    assert await emulator.requests("deepseek.a") == 4


async def test_a_multipart_body_is_415(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession
) -> None:
    """A multipart form is never a JSON body: a 415 saying what to send, and no vendor is asked."""
    body = b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}'
    headers = {**auth(), "Content-Type": "multipart/form-data; boundary=x"}
    async with http.post(gateway.url + "/v1/chat/completions", data=body, headers=headers) as r:
        assert r.status == 415
        err = (await r.json())["error"]
    assert err["code"] == "unsupported_media_type" and "application/json" in err["message"]
    assert await vendor_requests(emulator) == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_json_labelled_as_text_or_form_is_read_as_json(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession, content_type: str
) -> None:
    """``curl -d`` labels JSON as a form: the body is read as JSON and validated like any (served when it is
    a valid request; a form that is not JSON is a 400 invalid_json, and no vendor is asked)."""
    headers = {**auth(), "Content-Type": content_type}
    good = b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}'
    async with http.post(gateway.url + "/v1/chat/completions", data=good, headers=headers) as r:
        assert r.status == 200
    async with http.post(gateway.url + "/v1/chat/completions", data=b"model=chat&n=1", headers=headers) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_json"
    assert await vendor_requests(emulator) == 1


@pytest.mark.parametrize("content_type", [None, "application/json; charset=utf-8", "application/vnd.api+json"])
async def test_json_or_no_content_type_is_served(gateway: GatewayHandle, content_type: str | None) -> None:
    """A JSON Content-Type (with parameters, or a +json type) or none at all is read as JSON."""
    body = b'{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}'
    async with aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as http:
        headers = auth() if content_type is None else {**auth(), "Content-Type": content_type}
        async with http.post(gateway.url + "/v1/chat/completions", data=body, headers=headers) as r:
            assert r.status == 200, await r.text()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "embed"}, "missing_required_parameter"),
        ({"model": "embed", "input": None}, "missing_required_parameter"),
        ({"model": "embed", "input": 42}, "invalid_type"),
        ({"model": "embed", "input": {"text": "x"}}, "invalid_type"),
    ],
)
async def test_embeddings_input_is_checked(
    gateway: GatewayHandle, http: aiohttp.ClientSession, body: dict[str, Any], code: str
) -> None:
    """Embeddings need an 'input' that is a string or an array; anything else is a 400 naming 'input'."""
    async with http.post(gateway.url + "/v1/embeddings", json=body, headers=auth()) as r:
        assert r.status == 400
        err = (await r.json())["error"]
    assert (err["code"], err["param"]) == (code, "input")


@pytest.mark.parametrize(
    "value",
    ["", [], [""], [[]], ["a", 1], [None], [["a"]], [[1, "2"]], [1.5], [-1], [True], ["x"] * 2049],
    ids=["empty", "empty_list", "empty_item", "empty_tokens", "mixed", "null_item", "nested_strings",
         "mixed_tokens", "float_token", "negative_token", "bool_token", "2049_items"],
)  # fmt: skip
async def test_empty_or_mixed_embeddings_input_is_a_400(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession, value: Any
) -> None:
    """An embeddings 'input' OpenAI refuses — an empty string or array, an empty item, items mixing strings and
    token ids, a null, a nested array of strings, a token id that is no non-negative integer, more than 2048
    items — is a 400 invalid_value naming 'input' and saying what is allowed, before any vendor is called (and
    nothing is booked); a string, a list of strings, token ids and lists of token ids are served."""
    async with http.post(gateway.url + "/v1/embeddings", json={"model": "embed", "input": value}, headers=auth()) as r:
        assert r.status == 400, await r.text()
        err = (await r.json())["error"]
    assert (err["type"], err["code"], err["param"]) == ("invalid_request_error", "invalid_value", "input"), err
    assert "non-empty" in err["message"] and "2048" in err["message"]
    for good in ("a", ["a", "b"], [1, 2], [[1, 2], [3]], ["x"] * 2048):
        async with http.post(
            gateway.url + "/v1/embeddings", json={"model": "embed", "input": good}, headers=auth()
        ) as r:
            assert r.status == 200, await r.text()
    assert await vendor_requests(emulator) == 5


@pytest.mark.parametrize("value", [b"[1e400]", b'["a", [1e400]]', b"[1, -1e999]"], ids=["token", "nested", "negative"])
async def test_an_out_of_range_number_in_embeddings_input_is_a_400(
    gateway: GatewayHandle, emulator: EmulatorHandle, http: aiohttp.ClientSession, value: bytes
) -> None:
    """A number no float holds (1e400) inside an embeddings 'input' is a 400 naming 'input', not a 500, and no
    vendor is asked."""
    body = b'{"model": "embed", "input": ' + value + b"}"
    async with http.post(gateway.url + "/v1/embeddings", data=body, headers=auth()) as r:
        assert r.status == 400, await r.text()
        err = (await r.json())["error"]
    assert (err["type"], err["param"]) == ("invalid_request_error", "input"), err
    assert await vendor_requests(emulator) == 0
