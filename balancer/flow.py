"""A tiny min-cost transportation solver (successive shortest paths, Bellman-Ford), for the planner.

Sources with supply (routes and their demand this hour) send flow over priced arcs to sinks with room
(providers and their capacity this hour). A dozen nodes: microseconds to a millisecond, no dependency.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T", bound=Hashable)
INF = float("inf")
EPS = 1e-9


def transport(
    supply: Mapping[str, float], room: Mapping[str, float], arcs: Sequence[tuple[str, str, float, T]]
) -> dict[T, float]:
    """The cheapest flow moving as much supply as the room allows; arcs are (source, sink, cost, tag).

    Returns the flow on each tagged arc that carries any."""
    nodes = ["<s>", "<t>", *(f"s:{s}" for s in supply), *(f"r:{r}" for r in room)]
    at = {n: k for k, n in enumerate(nodes)}
    edges: list[list[float]] = []  # [from, to, residual, cost, reverse edge]

    def add(a: int, b: int, cap: float, cost: float) -> int:
        edges.append([a, b, cap, cost, len(edges) + 1])
        edges.append([b, a, 0.0, -cost, len(edges) - 1])
        return len(edges) - 2

    for s, amount in supply.items():
        add(0, at[f"s:{s}"], max(0.0, amount), 0.0)
    for r, cap in room.items():
        add(at[f"r:{r}"], 1, max(0.0, min(cap, 1e18)), 0.0)
    tags = {add(at[f"s:{s}"], at[f"r:{r}"], INF, cost): tag for s, r, cost, tag in arcs}
    while (path := _cheapest_path(len(nodes), edges)) is not None:
        f = min(edges[e][2] for e in path)
        if f <= EPS:
            break
        for e in path:
            edges[e][2] -= f
            edges[int(edges[e][4])][2] += f
    return {tag: edges[e + 1][2] for e, tag in tags.items() if edges[e + 1][2] > EPS}


def _cheapest_path(n: int, edges: list[list[float]]) -> list[int] | None:
    """Edge indices of a cheapest source→sink path with residual capacity, or None."""
    dist, via = [INF] * n, [-1] * n
    dist[0] = 0.0
    for _ in range(n):
        changed = False
        for k, (a, b, cap, cost, _) in enumerate(edges):
            if cap > EPS and dist[int(a)] + cost < dist[int(b)] - 1e-12:
                dist[int(b)], via[int(b)] = dist[int(a)] + cost, k
                changed = True
        if not changed:
            break
    if dist[1] == INF:
        return None
    path, node = [], 1
    while node != 0:
        k = via[node]
        path.append(k)
        node = int(edges[k][0])
    return path
