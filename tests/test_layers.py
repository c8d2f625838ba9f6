"""Imports run one way: the layers of the checkout, checked on the source (no import is executed).

* ``cutout_common`` (shared with GIMP's Python) imports only the standard library and itself; its
  client may import pyzmq, which is all the plug-in installs;
* the plug-in's GIMP-free logic (``plugin_logic``) imports the standard library, ``cutout_common`` and itself;
* the GIMP plug-in imports neither ``server`` nor ``models``;
* ``models`` never imports ``server``; the segmenters never import their install-time code;
* ``server``'s runtime (transport, pipeline, comic) imports neither its commands, benchmarks nor evaluation;
* Ray, an optional dependency, is imported only inside the functions that run with ``--ray`` (and
  ``bench batch``), so every other command works without it;
* no import cycle among the modules of ``server`` and ``models``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMMON = REPO / "gimp_plugin" / "cutout_common"
PLUGIN = REPO / "gimp_plugin" / "person-cutout"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def module_name(path: Path) -> str:
    """Dotted name of a checkout module as the server environment imports it."""
    for root in (REPO / "gimp_plugin", PLUGIN, REPO):
        if path.is_relative_to(root) and "person-cutout" not in path.relative_to(root).parts[:1]:
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join(parts)
    raise AssertionError(path)


def imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved), top-level or not."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def tops(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


@pytest.mark.parametrize("path", sources(COMMON), ids=lambda p: p.name)
def test_the_shared_package_needs_nothing_but_the_standard_library(path):
    allowed = STDLIB | {"cutout_common"} | ({"zmq"} if path.name == "client.py" else set())
    assert tops(imports(path)) <= allowed


@pytest.mark.parametrize("path", sources(PLUGIN / "plugin_logic"), ids=lambda p: p.name)
def test_the_plugins_logic_needs_no_gimp(path):
    assert tops(imports(path)) <= STDLIB | {"cutout_common", "plugin_logic"}


@pytest.mark.parametrize("path", sources(PLUGIN), ids=lambda p: p.name)
def test_the_plugin_imports_neither_server_nor_models(path):
    assert not tops(imports(path)) & {"server", "models", "numpy", "torch"}


def test_layers_of_models_and_server():
    for path in sources(REPO / "models"):
        names = imports(path)
        assert "server" not in tops(names), path
        if "install" not in path.relative_to(REPO / "models").parts:
            assert not any(n.startswith("models.install") for n in names), f"{path} imports install-time code"
    runtime = [REPO / "server" / sub for sub in ("transport", "pipeline", "comic")]
    for folder in runtime:
        for path in sources(folder):
            names = imports(path)
            for upper in ("server.commands", "server.bench", "server.evaluation", "server.demos"):
                assert not any(n == upper or n.startswith(upper + ".") for n in names), f"{path} imports {upper}"


def top_level_imports(path: Path) -> set[str]:
    """Names ``path`` imports when it is imported: statements outside function bodies (``if``/``try`` included)."""
    found: set[str] = set()
    pending = list(ast.parse(path.read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        pending.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
    return found


def test_ray_is_imported_only_when_asked_for():
    ray_runners = {"server.commands.cutout_ray", "server.bench.batch"}
    for path in sources(REPO / "server") + sources(REPO / "models"):
        loaded = top_level_imports(path)
        assert "ray" not in tops(loaded), f"{path} imports Ray when it is imported"
        assert not loaded & ray_runners, f"{path} imports a module that needs Ray when it is imported"
        if module_name(path) not in ray_runners:
            assert "ray" not in tops(imports(path)), f"{path} imports Ray; only {sorted(ray_runners)} may"


def test_no_import_cycles():
    paths = sources(REPO / "server") + sources(REPO / "models") + sources(COMMON)
    modules = {module_name(p): p for p in paths}
    graph = {name: {n for n in imports(path) if n in modules and n != name} for name, path in modules.items()}
    for name, edges in graph.items():  # a package's __init__ importing its own modules is not a cycle
        graph[name] = {e for e in edges if not e.startswith(name + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
