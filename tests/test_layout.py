"""The code's layout: data flows one way, feeds -> signals -> strategies -> analyzers -> engines -> research ->
reports -> cli, and no module imports another that (directly or through others) imports it back.

Every import counts, those inside functions too: a lazy import is still a dependency."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("feeds", "signals", "strategies", "analyzers", "engines", "research", "reports", "cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    found = {module_name(p): p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")}
    found["run_backtest"] = ROOT / "run_backtest.py"
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (relative imports resolved; ``from pkg import sub`` counts ``pkg.sub``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            subs = {f"{base}.{a.name}" for a in node.names}
            found |= subs
            if not subs <= known:  # ``from pkg import sub`` needs only sub; a name defined in pkg needs pkg
                found.add(base)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    return LAYERS.index(top) if top in LAYERS else len(LAYERS)


def test_every_import_points_down_the_layers():
    upward = sorted(f"{a} imports {b}" for a, targets in graph().items() for b in targets if layer_of(b) > layer_of(a))
    assert upward == []


def test_no_import_circle():
    edges = graph()
    circles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                circles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert circles == []


def test_the_graph_sees_every_kind_of_import():
    """The graph is real: known edges are found (a package importing its own parent counts as an edge too)."""
    edges = graph()
    assert "engines.engine" in edges["research.sweep"]
    assert "engines.fast" in edges["research.sweep"]  # a lazy import inside a function
    assert "cli.run" in edges["cli.sweep"]  # a relative import
    assert "analyzers" not in edges["analyzers.exposure"]  # ``from . import stats``: the submodule only
    assert "feeds" in edges["analyzers.base"]  # ``from feeds import is_cash``: a name of the package
    assert layer_of("cli.main") > layer_of("reports.tables") > layer_of("research.sweep") > layer_of("engines.engine")
