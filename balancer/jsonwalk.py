"""A copy of a decoded JSON tree made without recursion, so that no depth can exhaust Python's stack.

The transcripts' redaction and PII scrubbing walk trees a client or an upstream sent: a request nests at most
100 levels (:mod:`balancer.nesting`), but an upstream's reply may nest as deeply as its decoder took, and a string
may hold JSON of its own. A recursive walk of a few frames a level hit the interpreter's recursion limit at a few
hundred levels (a transcript record lost); :func:`rebuild` keeps its own stack of the containers it is in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

#: What an ``entry`` returns for a dict's entry that is left out, key and all.
DROP: Any = object()


def _keep(_name: str, value: Any) -> Any:
    return value


def rebuild(root: Any, leaf: Callable[[Any], Any], entry: Callable[[str, Any], Any] = _keep) -> Any:
    """A copy of ``root`` (dicts and lists, at any depth) with every other value replaced by ``leaf(value)``.
    Each dict entry's value is first passed to ``entry(str(key), value)``: what it returns is walked in its place
    (``DROP``: the entry is left out). Key order is kept."""
    if not isinstance(root, dict | list):
        return leaf(root)
    top: dict[Any, Any] | list[Any] = type(root)()
    stack: list[tuple[Iterator[Any], dict[Any, Any] | list[Any]]] = [(_items(root), top)]
    while stack:
        items, target = stack[-1]
        for key, item in items:
            value = entry(str(key), item) if isinstance(target, dict) else item
            if value is DROP:
                continue
            if isinstance(value, dict | list):
                child: dict[Any, Any] | list[Any] = type(value)()
                _put(target, key, child)
                stack.append((_items(value), child))
                break
            _put(target, key, leaf(value))
        else:
            stack.pop()
    return top


def _items(node: dict[Any, Any] | list[Any]) -> Iterator[tuple[Any, Any]]:
    return iter(node.items()) if isinstance(node, dict) else ((None, v) for v in node)


def _put(target: dict[Any, Any] | list[Any], key: Any, value: Any) -> None:
    if isinstance(target, dict):
        target[key] = value
    else:
        target.append(value)
