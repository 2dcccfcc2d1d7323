"""The finetune package's imports flow one way: no module imports one that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import finetune

ROOT = Path(finetune.__file__).resolve().parent


def module_name(path: Path) -> str:
    """``finetune/targets/base.py`` -> ``finetune.targets.base`` (packages by their own name)."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The finetune modules a file imports, at the top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("finetune"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names} & modules
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("finetune")}
    return found


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path of module names, or [] when the graph has none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_cycle_finder_finds_a_cycle() -> None:
    """The checker itself reports a two-module cycle (so the real check can fail)."""
    assert cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert cycle({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    """No finetune module imports, directly or through others, a module that imports it back.

    A package's ``__init__`` importing its own submodules is the registry pattern, not a cycle,
    so edges from a package to itself and its children are left out.
    """
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {
        name: {d for d in imports(path, set(files)) if d in files and d != name and not d.startswith(f"{name}.")}
        for name, path in files.items()
    }
    assert cycle(graph) == []
