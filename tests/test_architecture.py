"""The tree shows the architecture: no import cycle, small modules, a composition root no stage imports."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx

PACKAGE = Path(__file__).resolve().parents[1] / "mailflow"
COMPOSITION_ROOT = "mailflow.service.app"
# Entry points (the `mailflow` command) may build the service; nothing else may import the composition root.
ENTRY_POINT_PACKAGE = "mailflow.cli"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every mailflow module `name` imports, at any depth of the file (functions, TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known)
    return found - {name}


def import_graph() -> networkx.DiGraph:
    known = modules()
    graph = networkx.DiGraph()
    graph.add_nodes_from(known)
    for name, path in known.items():
        for target in imports_of(name, path, set(known)):
            # Importing a package's submodule runs the package's __init__ too, which is not an edge of ours.
            if not name.startswith(target + "."):
                graph.add_edge(name, target)
    return graph


def test_no_import_cycle_between_mailflow_modules():
    cycles = list(networkx.simple_cycles(import_graph()))
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c + [c[0]]) for c in cycles[:10])


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}


def test_only_entry_points_import_the_composition_root():
    importers = set(import_graph().predecessors(COMPOSITION_ROOT))
    others = {name for name in importers if not (name + ".").startswith(ENTRY_POINT_PACKAGE + ".")}
    assert importers and others == set(), f"{sorted(others)} import the composition root"
