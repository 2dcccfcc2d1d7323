"""The house's shape: imports under balancer/ flow one way, the wings stay apart, the request path stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "balancer"

# Bottom to top: a module may import modules of its own layer or below, never above.
LAYERS: list[set[str]] = [
    {"config_paths", "jsonwalk"},  # paths and tree walks, for secrets, pii and redact
    {
        "errors",
        "logs",
        "tasks",
        "http",
        "secrets",
        "pii",
        "nesting",
        "config_numbers",
        "config_failover",
        "config_yaml",
        "shapes",
        "replans",
        "turns",
        "refusals",
    },
    {"wire", "replies", "bodytext", "upstream", "redact", "transcripts"},
    {"vendors"},
    {"config"},
    {"state"},
    {"credit", "credit.pricing", "credit.ledger", "credit.ledger_redis", "credit.balances", "credit.plan"},
    {
        "credit.fits",
        "credit.horizon",
        "credit.schedule",
        "credit.picks",
        "credit.highs",
        "credit.lp",
        "credit.planner",
        "credit.report",
        "credit.bound",
        "credit.debits",
    },
    {"routes", "capture", "clients", "keylimits"},
    {"router", "job", "checks", "judging"},
    {"sim"},  # drives the router's strategies and the planner on a virtual clock
    {"attempt"},
    {"streams", "failover"},
    {"gateway"},
    {"status"},
    {"metrics"},
    {"intake", "idempotency", "batch_files"},
    {"api", "server", "batches", "admin"},
    {"app"},
    {"emulator"},
    {"lifecycle"},  # serve's signals and systemd notifications
    {"workers"},
    {"cli", "__main__"},
]
# Wings: who may import them at all (the request path never loads the planner's solver or the emulator).
WINGS = {
    "credit.lp": {"credit.planner"},
    "credit.highs": {"credit.lp", "credit.bound", "credit.debits"},  # numpy and HiGHS: the planner's worker, tools
    "credit.debits": {"credit.bound"},
    "credit.planner": {"gateway", "cli", "sim"},
    "credit.bound": {"sim", "cli"},  # the offline optimum and the simulation: tools, never the request path
    "sim": {"cli"},
    "credit.report": {"gateway", "cli"},
    "emulator": {"cli"},
    "admin": {"app", "cli"},  # the admin wing: beside the API, registered by the app; nothing below imports it
}


def _name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts) or "__init__"


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every balancer module this file imports, anywhere in it (function-level imports count). ``from pkg
    import sub`` names the submodule ``pkg.sub``, not ``pkg``'s face: only names that are not modules do."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name.removeprefix("balancer.") for a in node.names if a.name.startswith("balancer.")}
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("balancer.") and not node.level
        ):
            base = node.module.removeprefix("balancer.")
            subs = {f"{base}.{a.name}" for a in node.names}
            out |= subs & modules
            if subs - modules:
                out.add(base)
    return out


def graph() -> dict[str, set[str]]:
    files = {_name(p): p for p in ROOT.rglob("*.py")}
    return {name: {m for m in _imports(p, set(files)) if m in files and m != name} for name, p in files.items()}


def _unit(module: str, units: set[str]) -> str:
    """The layer entry a module belongs to: itself, or the package it lives in (``vendors.qwen`` -> ``vendors``)."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in units:
            return ".".join(parts[:i])
    raise AssertionError(f"balancer/{module.replace('.', '/')}.py has no layer in LAYERS: add it")


def _cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    """No two modules of balancer/ import each other, directly or around a loop."""
    assert _cycles(graph()) == []


def test_cycle_finder_finds_a_loop() -> None:
    """The check above can fail: a loop of three is found."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _violations(g: dict[str, set[str]]) -> list[str]:
    units = {u for layer in LAYERS for u in layer}
    level = {u: i for i, layer in enumerate(LAYERS) for u in layer}
    bad = []
    for mod, targets in g.items():
        if mod == "__init__":
            continue
        src = _unit(mod, units)
        for t in targets:
            dst = _unit(t, units)
            if level[dst] > level[src]:
                bad.append(f"{mod} -> {t} (layer {level[src]} imports layer {level[dst]})")
            allowed = WINGS.get(dst)
            if allowed is not None and src != dst and src not in allowed:
                bad.append(f"{mod} -> {t} (only {sorted(allowed)} may import {dst})")
    return bad


def test_imports_never_run_up_the_layers() -> None:
    """Every import goes to the same layer or below (state, vendors and http never import the router,
    the planner or the API), and the wings are imported only by the modules named for them."""
    assert _violations(graph()) == []


def test_layer_check_finds_an_upward_import() -> None:
    """The check above can fail: state importing the router, or the router importing the emulator, is found."""
    found = _violations({"state.memory": {"router"}, "router": {"emulator.server"}})
    edges = ["state.memory -> router", "router -> emulator.server", "router -> emulator.server"]
    assert [v.split(" (")[0] for v in found] == edges  # an upward import, then one upward into a wing
    assert "only ['cli'] may import emulator" in found[-1]


@pytest.mark.parametrize("module", ["balancer.failover", "balancer.streams", "balancer.app"])
def test_request_path_loads_no_solver(module: str) -> None:
    """Importing the request path (and the app that serves it) loads neither numpy nor HiGHS: the planner
    imports them in its worker, when it first solves."""
    code = f"import sys, {module}; print(sorted(m for m in ('numpy', 'highspy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
