"""The request view: what routing reads from a body decoded once."""

from __future__ import annotations

import orjson
import pytest

from balancer import wire

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}


def view(messages: object) -> wire.RequestView:
    data = orjson.dumps({"model": "m", "messages": messages})
    return wire.chat_view(wire.decode_body(data), len(data))


@pytest.mark.parametrize(
    ("messages", "images"),
    [
        ([{"role": "user", "content": "看这张图 image_url"}], False),
        ([{"role": "user", "content": [{"type": "text", "text": '{"type": "image_url"}'}]}], False),
        ([{"role": "user", "content": [{"type": "text", "text": "看"}, IMAGE]}], True),
        (
            [
                {"role": "user", "content": [IMAGE]},
                {"role": "assistant", "content": "猫"},
                {"role": "user", "content": "?"},
            ],
            True,
        ),
        ([{"role": "tool", "tool_call_id": "t", "content": [IMAGE]}], True),
        ([{"role": "user"}, {"role": "assistant", "content": None}], False),
        ([{"role": "user", "content": [1, "image_url", None]}], False),
        ([{"role": "user", "content": [{"type": 3}, {"type": ["image_url"]}, {"image_url": {}}]}], False),
        ([{"role": "user", "content": {"type": "image_url"}}], False),
    ],
)
def test_images_are_image_parts_in_any_message(messages: object, images: bool) -> None:
    """``images`` is set by an image_url part in any message's content array (history and tool results too),
    never by text that names one; content of any other shape is left for the vendor to judge, never a 400 here."""
    assert view(messages).images is images
