"""The one-pass scan agrees with the rules it lets the pipeline skip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from finetune.model import Conversation
from finetune.scan import clean, scan
from finetune.targets import TARGETS
from tests.finetune.strategies import arbitrary


@pytest.mark.parametrize("name", list(TARGETS))
@settings(max_examples=60, deadline=None)
@given(conv=arbitrary())
def test_clean_never_hides_a_violation(name: str, conv: Conversation) -> None:
    """Whenever clean() says a sample passes, no individual rule of the target fires."""
    target = TARGETS[name]
    if clean(scan(conv), conv, target.caps):
        found = [(r.id, p) for r in target.rules for p, _ in r.check(conv, target.caps)]
        assert found == []
