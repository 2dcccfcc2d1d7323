"""A tiny min-cost flow solver (successive shortest paths, Bellman-Ford), for the planner.

Sources with supply (routes and their demand this hour) send flow over priced, capacitated arcs (through
grant nodes, whose arcs carry what the grant may spend this hour) to sinks with room (providers and their
capacity this hour). A dozen nodes: well under a millisecond, no dependency.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T", bound=Hashable)
INF = float("inf")
EPS = 1e-9


def transport(
    supply: Mapping[str, float], room: Mapping[str, float], arcs: Sequence[tuple[str, str, float, float, T]]
) -> dict[T, float]:
    """The cheapest flow moving as much supply as the room allows.

    ``supply``: source nodes and what they send; ``room``: sink nodes and what they take; ``arcs``: (from, to,
    capacity, cost per unit, tag) between any named nodes (a node may be neither source nor sink). The graph
    must have no cycle of negative cost. Returns the flow on each tagged arc that carries any."""
    names = dict.fromkeys(["<s>", "<t>", *supply, *room, *(a[0] for a in arcs), *(a[1] for a in arcs)])
    at = {n: k for k, n in enumerate(names)}
    edges: list[list[float]] = []  # [from, to, residual, cost, reverse edge]

    def add(a: int, b: int, cap: float, cost: float) -> int:
        edges.append([a, b, max(0.0, min(cap, 1e18)), cost, len(edges) + 1])
        edges.append([b, a, 0.0, -cost, len(edges) - 1])
        return len(edges) - 2

    for node, amount in supply.items():
        add(0, at[node], amount, 0.0)
    for node, cap in room.items():
        add(at[node], 1, cap, 0.0)
    tags = {add(at[a], at[b], cap, cost): tag for a, b, cap, cost, tag in arcs}
    while (path := _cheapest_path(len(names), edges)) is not None:
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
