"""The package's layers (docs/extending.md): the graph of gan_runner's imports of itself, read from the source with
ast (every import, at the top of a module, inside a function or under TYPE_CHECKING: an import hidden in a function
still ties the two modules together), has no cycle, and its arrows point down: the ground floor imports only the
ground floor, a component never imports the engine, the commands or the study tools, and study/ (what the commands
use at run time) nothing of the engine's insides."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gan_runner"

GROUND_FLOOR = {"gan_runner", "gan_runner.errors", "gan_runner.distributed", "gan_runner.schema", "gan_runner.latent",
                "gan_runner.pictures", "gan_runner.run_directory"}
COMPONENTS = ["arch", "data", "objectives", "regularisers", "metrics", "health", "augment"]
ABOVE_THE_COMPONENTS = ["engine", "commands", "study"]
# What study/ may import of the engine: its public entry (train), as the commands do. Nothing else of its insides.
STUDY_MAY_IMPORT = {"gan_runner.engine.loop"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts}


def resolve(name: str) -> str:
    """The module an imported name lives in: `gan_runner.data.Samples` -> gan_runner.data,
    `gan_runner.engine.distributed` -> that module."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports() -> dict[str, dict[str, int]]:
    """module -> {a gan_runner module it imports: the line of the first such import}."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in MODULES.items():
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("gan_runner"):
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names if alias.name.startswith("gan_runner")]
            else:
                continue
            for target in map(resolve, targets):
                if target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def inside(module: str, packages: list[str]) -> bool:
    return any(module == f"gan_runner.{p}" or module.startswith(f"gan_runner.{p}.") for p in packages)


def edges_where(graph: dict[str, dict[str, int]], source, target) -> list[str]:
    """'file:line imports module' for each import from a module that `source` accepts of one that `target` does."""
    return [f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} imports {other}"
            for module, edges in sorted(graph.items()) if source(module)
            for other, line in sorted(edges.items()) if target(other)]


def test_the_graph_is_read_whole() -> None:
    """The reading itself: the package's modules are found, and an import in a function counts."""
    graph = imports()
    assert {"gan_runner.engine.loop", "gan_runner.commands.run", "gan_runner.data.gauss1d"} <= set(graph)
    assert "gan_runner.pictures" in graph["gan_runner.data.gauss1d"]
    assert "gan_runner.schema" in graph["gan_runner.run_directory"]  # imported inside a function


def test_no_import_cycle() -> None:
    assert cycles(imports()) == [], "modules that import each other: move the piece they share to where it belongs"


def test_the_ground_floor_imports_only_the_ground_floor() -> None:
    ground = edges_where(imports(), lambda m: m in GROUND_FLOOR, lambda m: m not in GROUND_FLOOR)
    assert ground == []


def test_components_import_nothing_of_the_engine_the_commands_or_the_study_tools() -> None:
    upward = edges_where(imports(), lambda m: inside(m, COMPONENTS) or m == "gan_runner.run_directory",
                         lambda m: inside(m, ABOVE_THE_COMPONENTS))
    assert upward == []


def test_study_imports_only_the_engines_public_entry() -> None:
    into_the_engine = edges_where(imports(), lambda m: inside(m, ["study"]),
                                  lambda m: inside(m, ["engine"]) and m not in STUDY_MAY_IMPORT)
    assert into_the_engine == []
