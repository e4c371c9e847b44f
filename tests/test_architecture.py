"""The package's shape, checked from its source: layers, no cycles, no private imports, sizes.

The import graph is read from the AST of every module (imports at the top *and* inside
functions, which a runtime check would miss), so a deferred import cannot hide a cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mtl_tutorial"
ROOT = "mtl_tutorial"
MAX_LINES = 400

#: Lowest first. A module may import its own layer or lower ones, never a higher one.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "files", "utils"),
    ("checkpoint", "store", "provenance"),
    ("data", "loaders", "tasks", "metrics", "losses", "feature_stats"),
    ("models",),
    ("weighting",),
    ("trainer", "schedules"),
    ("gan_eval", "report", "viz", "bench_weighting"),
    ("experiments", "recipes", "pretrained", "labs"),
    ("doctor", "reproduce", "classroom", "cli", "__main__"),
)


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def layer_of(module: str) -> int:
    """The layer of ``mtl_tutorial.<top>...``; the package root sits above every layer."""
    if module == ROOT:
        return len(LAYERS)
    top = module.split(".")[1]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def _base(module: str, path: Path, level: int) -> str:
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for _ in range(level - 1):
        package = package.rsplit(".", 1)[0]
    return package


def imports(module: str) -> list[tuple[str, list[str]]]:
    """``(imported module, imported names)`` for every import statement of ``module``."""
    path = MODULES[module]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] == ROOT]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _base(module, path, node.level)
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.split(".")[0] != ROOT:
                continue
            names = [a.name for a in node.names]
            submodules = [n for n in names if f"{target}.{n}" in MODULES]
            out += [(f"{target}.{n}", []) for n in submodules]
            others = [n for n in names if n not in submodules]
            if others or not submodules:
                out.append((target, others))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).startswith(ROOT)
        ):
            out.append((str(node.args[0].value), []))
    return out


def _owner(target: str) -> str:
    """The module a dotted import target lives in (``a.b.c`` -> ``a.b`` if ``c`` is a name)."""
    while target not in MODULES:
        target = target.rsplit(".", 1)[0]
    return target


def graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (self-imports dropped)."""
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _ in imports(module):
            owner = _owner(target)
            if owner != module:
                edges[module].add(owner)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_graph_reader_sees_deferred_and_relative_imports():
    # the reader is what the other tests trust: check it on this package's own known edges
    edges = graph()
    assert "mtl_tutorial.checkpoint" in edges["mtl_tutorial.store"]
    assert "mtl_tutorial.store" in edges["mtl_tutorial.pretrained"]
    assert "mtl_tutorial.cli" in edges["mtl_tutorial.__main__"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_import_graph_has_no_cycles():
    assert _cycles(graph()) == []


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{m} (layer {layer_of(m)}) imports {t} (layer {layer_of(t)})"
        for m, targets in graph().items()
        for t in sorted(targets)
        if layer_of(t) > layer_of(m)
    ]
    assert upward == []


def test_no_private_name_crosses_a_module_boundary():
    crossing = [
        f"{m} imports {name} from {target}"
        for m in MODULES
        for target, names in imports(m)
        for name in names
        if name.startswith("_") and _owner(target) != m
    ]
    assert crossing == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module]} has {lines} lines (limit {MAX_LINES})"


def test_every_module_has_a_layer_and_a_docstring():
    for module, path in MODULES.items():
        layer_of(module)
        if path.stat().st_size:
            assert ast.get_docstring(ast.parse(path.read_text())), f"{path} has no docstring"


def test_package_map_names_every_top_level_module():
    import mtl_tutorial

    doc = mtl_tutorial.__doc__ or ""
    tops = {m.split(".")[1] for m in MODULES if m != ROOT}
    missing = sorted(t for t in tops if t not in {"__main__"} and f"``{t}" not in doc)
    assert missing == [], f"mtl_tutorial/__init__.py's package map misses {missing}"


def test_every_type_ignore_names_its_code_and_reason():
    bare = [
        f"{path}:{i}"
        for path in MODULES.values()
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if "type: ignore" in line
        and not re.search(r"type: ignore\[[\w, -]+\]\s+#\s*\S", line)
    ]
    assert bare == []
