"""The package's imports go one way: no cycles, lazy (inside a function) or not, and layers as DESIGN.md draws them.

Every `import` and `from … import` of a spark_tui module is read from the source (the AST, so imports inside
functions count too). Imports under `if TYPE_CHECKING:` are left out: they never run, they only name types."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "spark_tui"

# Lower layers never import higher ones. A module's layer is that of its longest listed prefix.
LAYERS: list[tuple[str, ...]] = [
    ("spark_tui.errors", "spark_tui.paths", "spark_tui.files", "spark_tui.units", "spark_tui.deadline",
     "spark_tui.datacache", "spark_tui.settings", "spark_tui.crash", "spark_tui", "spark_tui.cluster.config"),
    ("spark_tui.hub", "spark_tui.hardware", "spark_tui.rules"),
    ("spark_tui.advisor",),
    ("spark_tui.engines", "spark_tui.metrics", "spark_tui.downloads", "spark_tui.calibration", "spark_tui.cluster"),
    ("spark_tui.services", "spark_tui.report", "spark_tui.planning"),
    ("spark_tui.cli", "spark_tui.cli_requests", "spark_tui.rules_cli", "spark_tui.serve_cli", "spark_tui.pull_cli",
     "spark_tui.calibration_cli", "spark_tui.cluster_cli", "spark_tui.tui", "spark_tui.__main__"),
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module a dotted name lives in (`spark_tui.hub.facts.ModelFacts` → `spark_tui.hub.facts`)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return skipped


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    skipped = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            owner = _owner(name) if name.startswith("spark_tui") else None
            if owner and owner != module:
                found.add(owner)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles():
    assert _cycles() == []


def _layer(module: str) -> int:
    best, layer = "", 0
    for number, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, layer = prefix, number
    return layer


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layers_go_one_way(module):
    upward = sorted(t for t in GRAPH[module] if _layer(t) > _layer(module))
    assert upward == [], f"{module} (layer {_layer(module)}) imports higher layers: {upward}"


def test_the_walk_sees_imports_inside_functions():
    # The CLI imports the app only inside a function; the walk must still see it.
    assert "spark_tui.tui" in GRAPH["spark_tui.cli"]


def test_nothing_outside_the_app_imports_a_cli_module_or_textual():
    for module, targets in GRAPH.items():
        if module.startswith("spark_tui.tui"):
            assert not any(t.endswith("_cli") or t == "spark_tui.cli" for t in targets), module
    for module, path in MODULES.items():
        if not module.startswith("spark_tui.tui"):
            assert "textual" not in {n.split(".")[0] for n in _third_party(path)}, module


def _third_party(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return names
