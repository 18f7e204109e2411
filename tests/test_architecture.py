"""The tree shows the architecture: no import cycle, small modules, a composition root no stage imports."""

from __future__ import annotations

import ast
import re
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


ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"
# Alembic's revisions, one per schema change: the tree names them as a folder (db/ … migrations/ … versions/).
UNLISTED = ("db/migrations/versions/",)


def tree() -> str:
    """The tree of docs/architecture.md: its first fenced block."""
    match = re.search(r"^```\n(.*?)^```", ARCHITECTURE.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    assert match, f"{ARCHITECTURE} has no tree (a ``` block)"
    return match.group(1)


def parenthesised(text: str, start: int) -> str:
    """The text inside the parentheses that open at `text[start]`, nested ones included."""
    depth = 0
    for end in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[start + 1 : end]
    return text[start + 1 :]


def part_of(folder: tuple[str, ...], text: str) -> str | None:
    """The part of the tree about mailflow/<folder>/ (None when it has none).

    A package of mailflow/ is an entry of the tree (`  web/   …`, up to the next entry); a package
    inside it is named in its parent's part followed by its modules in parentheses (`extract/ (…)`).
    """
    if not folder:
        return text
    parent = part_of(folder[:-1], text)
    if parent is None:
        return None
    name = re.escape(folder[-1])
    if len(folder) == 1:
        match = re.search(rf"^  {name}/\s.*?(?=^  \S|\Z)", parent, re.MULTILINE | re.DOTALL)
        return match.group(0) if match else None
    match = re.search(rf"(?<![\w/]){name}/\s*\(", parent)
    return parenthesised(parent, match.end() - 1) if match else None


def own_part(folder: tuple[str, ...], text: str) -> str:
    """The part of mailflow/<folder>/ without the parts of the packages inside it."""
    part = part_of(folder, text) or ""
    if not folder:
        return re.sub(r"^  \w+/\s.*?(?=^  \S|\Z)", "", part, flags=re.MULTILINE | re.DOTALL)
    while match := re.search(r"(?<![\w/])\w+/\s*\(", part):
        inner = parenthesised(part, match.end() - 1)
        part = part[: match.start()] + part[match.end() + len(inner) + 1 :]
    return part


def named(module: str, text: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(module)}(?!\w)", text) is not None


def test_the_architecture_page_names_every_module():
    """docs/architecture.md names every module of mailflow/ (but __init__.py and Alembic's revisions).

    A module counts as named when its file name (`spool.py`) is written in its package's own part of
    the tree: for a module of mailflow/ itself, the entries that are not packages; for a package of
    mailflow/, its entry (`  mail/  …`, up to the next entry); for a package inside one, the parentheses
    after its name in its parent's part (`extract/ (documents.py: …; docx.py …)`). A package's own part
    leaves out the parentheses of the packages inside it, so pipeline/filing.py is not taken for
    pipeline/offers/filing.py. A pattern (`pdf*.py`) names nothing.
    """
    text = tree()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if path.name == "__init__.py" or "__pycache__" in relative.parts:
            continue
        if relative.as_posix().startswith(UNLISTED):
            continue
        folder = relative.parts[:-1]
        if not named(path.name, own_part(folder, text)):
            where = "mailflow/" + "".join(f"{part}/" for part in folder)
            if part_of(folder, text) is None and len(folder) == 1:
                where += f" — which has no entry yet: add `  {folder[0]}/  …` to the tree"
            elif part_of(folder, text) is None:
                where += f" — which has no part yet: write `{folder[-1]}/ (…)` in its parent's part"
            missing.append(f"{relative.as_posix()} (in the part of {where})")
    assert missing == [], f"{ARCHITECTURE.name} does not name these modules: " + ", ".join(missing)


def test_the_architecture_page_names_no_module_that_is_gone():
    """Every `name.py` written in a package's own part of the tree (as above) is a module of that package."""
    text = tree()
    folders = {path.relative_to(PACKAGE).parts[:-1] for path in PACKAGE.rglob("*.py")}
    gone = [
        "mailflow/" + "".join(f"{part}/" for part in folder) + name
        for folder in sorted(folders)
        for name in re.findall(r"(?<![\w.])(\w+\.py)(?!\w)", own_part(folder, text))
        if not (PACKAGE.joinpath(*folder) / name).is_file()
    ]
    assert gone == [], f"{ARCHITECTURE.name} names modules that do not exist: " + ", ".join(gone)
