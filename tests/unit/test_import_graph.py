"""The import graph of lib/flowmosaic, read with ast (nothing is imported): the stages depend on
each other in one direction only, and no import hides inside a function to dodge a cycle.

An edge m -> t is an import of flowmosaic module t that runs when m is imported: a statement at
module level, in a class body or under if/try/with, but not under `if TYPE_CHECKING:`.
`from flowmosaic.a import b` points at flowmosaic.a.b when that is a module, else at
flowmosaic.a (its __init__). The parent packages Python imports on the way are not edges: a
package's __init__ importing its own submodules is not a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[2] / "lib"

# Function-level imports of flowmosaic modules, each with the reason it is not at the top.
# A reason may not be "it would make a cycle": test_deferred_imports_dodge_no_cycle checks.
DEFERRED: dict[tuple[str, str], str] = {
    ("flowmosaic", "flowmosaic.api"): "fm.open loads the API (pyspark, pandas, every stage) on "
    "first use, so that a Python worker importing one kernel module does not load it all",
}


def _name(path: Path) -> str:
    parts = list(path.relative_to(LIB).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in (LIB / "flowmosaic").rglob("*.py")}


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            pkg = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
            for _ in range(node.level - 1):
                pkg = pkg.rsplit(".", 1)[0]
            base = f"{pkg}.{base}" if base else pkg
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    return [n for n in names if n in MODULES]


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _scan() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    """(module-level edges, function-level imports as (module, target, line))."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    deferred: list[tuple[str, str, int]] = []

    def walk(module: str, body: list[ast.stmt], in_function: bool) -> None:
        for node in body:
            if _type_checking(node):
                continue
            if isinstance(node, ast.Import | ast.ImportFrom):
                for t in _targets(module, node):
                    if in_function:
                        deferred.append((module, t, node.lineno))
                    else:
                        edges[module].add(t)
            nested = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                sub = getattr(node, field, None)
                if isinstance(sub, list):
                    walk(module, [s for s in sub if isinstance(s, ast.AST)], nested)

    for module, path in MODULES.items():
        walk(module, ast.parse(path.read_text()).body, False)
    return edges, deferred


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                return path[path.index(t) :] + [t]
            if t not in state and (found := visit(t)):
                return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_graph_is_read():
    edges, _ = _scan()
    assert len(MODULES) > 50
    assert "flowmosaic.calendar" in edges["flowmosaic.backtest.signal"]
    assert "flowmosaic.ingest.sources" in edges["flowmosaic.ingest.driver"]


def test_no_import_cycle():
    edges, _ = _scan()
    cycle = _cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_function_level_imports_are_listed_with_a_reason():
    _, deferred = _scan()
    found = {(m, t) for m, t, _ in deferred}
    unlisted = sorted(f"{m} -> {t} (line {n})" for m, t, n in deferred if (m, t) not in DEFERRED)
    assert not unlisted, "import at module level, or add to DEFERRED with the reason: " + "; ".join(
        unlisted
    )
    assert set(DEFERRED) <= found, f"no longer deferred: {sorted(set(DEFERRED) - found)}"
    assert all(reason.strip() for reason in DEFERRED.values())


def test_deferred_imports_dodge_no_cycle():
    edges, deferred = _scan()
    for m, t, line in deferred:
        with_it = {k: set(v) for k, v in edges.items()}
        with_it[m].add(t)
        cycle = _cycle(with_it)
        assert cycle is None, (
            f"{m} line {line} imports {t} inside a function to avoid the "
            f"cycle {' -> '.join(cycle or [])}: break the cycle instead"
        )


def test_a_cycle_is_found():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
