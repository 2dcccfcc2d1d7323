"""The planner's min-cost flow: cheapest arcs first, within room, through capacitated middle nodes."""

from __future__ import annotations

import pytest

from balancer.flow import transport


def test_cheapest_arcs_fill_first_within_room() -> None:
    """Supply goes to the cheapest sink until its room is used, then to the next one."""
    flows = transport(
        {"r": 10.0}, {"cheap": 4.0, "dear": 100.0}, [("r", "cheap", 1e9, 1.0, "c"), ("r", "dear", 1e9, 5.0, "d")]
    )
    assert flows == pytest.approx({"c": 4.0, "d": 6.0})


def test_contended_sink_goes_where_it_saves_most() -> None:
    """Two sources share a cheap sink; it serves the one whose alternative costs more."""
    arcs = [
        ("a", "cheap", 1e9, 1.0, "a-cheap"),
        ("a", "dear", 1e9, 2.0, "a-dear"),
        ("b", "cheap", 1e9, 1.0, "b-cheap"),
        ("b", "dear", 1e9, 9.0, "b-dear"),
    ]
    flows = transport({"a": 5.0, "b": 5.0}, {"cheap": 5.0, "dear": 100.0}, arcs)
    assert flows == pytest.approx({"b-cheap": 5.0, "a-dear": 5.0})


def test_budget_node_caps_a_free_path() -> None:
    """A middle node with a capacitated arc (a grant's budget this hour) limits the free path."""
    arcs = [
        ("r", "g", 1e9, -1e-6, "grant"),
        ("g", "p", 3.0, 0.0, "budget"),
        ("r", "p", 1e9, 2.0, "paid"),
    ]
    flows = transport({"r": 10.0}, {"p": 8.0}, arcs)
    assert flows == pytest.approx({"grant": 3.0, "budget": 3.0, "paid": 5.0})
