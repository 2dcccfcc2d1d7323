"""Every failure class is known everywhere classes are enumerated: the client-facing answer, the default
consequence, the README's class table."""

from __future__ import annotations

from pathlib import Path

from balancer.config_failover import ClassPolicy, Failover
from balancer.errors import CLIENT_FACING, Failure

README = Path(__file__).parents[2] / "README.md"


def test_every_class_has_an_answer_and_a_default_consequence() -> None:
    """Each Failure has a client-facing status and a default policy in failover.classes."""
    assert set(CLIENT_FACING) == set(Failure)
    assert set(Failover().classes) == set(Failure)


def test_model_unavailable_takes_out_one_model_for_an_hour() -> None:
    """model_unavailable fails over and cools down that model on that account (scope candidate) for an hour."""
    policy = Failover().classes[Failure.MODEL_UNAVAILABLE]
    assert policy == ClassPolicy(cooldown_s=3600.0) and policy.scope == "candidate" and policy.failover is True


def test_readme_class_table_names_every_class() -> None:
    """The README's class table has a row for every failure class."""
    rows = [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    assert all(any(f"`{f.value}`" in row for row in rows) for f in Failure)
