"""The package's shape, checked on every import in the source, function-level ones included.

Rooms, lowest first (each may import only itself and rooms below it):

    core (errors, version) < io < stats < data < hub < models < evaluation < meta_eval
    < viz < integrations < cli

Besides the order: nothing under ``i2imetric/`` imports the trainer (``training`` /
``i2imetric_training``), only ``cli`` imports ``cli``, and no two modules import each
other, directly or around a loop. Imports under ``if TYPE_CHECKING:`` are left out (they
never run). The package's ``__init__`` and ``__main__`` are facades and may name any room.
The checker is tested on a small synthetic package too, so it is known to catch each kind
of violation.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "i2imetric"
ROOMS = ["core", "io", "stats", "data", "hub", "models", "evaluation", "meta_eval", "viz", "integrations", "cli"]
TRAINER = ("training", "i2imetric_training")
FACADES = {"i2imetric", "i2imetric.__main__"}


def module_names(package_dir: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (a package is its ``__init__``)."""
    root = package_dir.name
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [root, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The dotted names ``module`` imports: modules of the package where they resolve, else as written."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in modules else target)
    return found


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ROOMS) else "core"


def violations(package_dir: Path, rooms: list[str] = ROOMS) -> list[str]:
    """Every broken rule, one line each."""
    modules = module_names(package_dir)
    root = package_dir.name
    graph = {name: {i for i in imports_of(name, path, modules)} for name, path in modules.items()}
    problems = []
    for name, imported in sorted(graph.items()):
        for target in sorted(imported):
            if target.split(".")[0] in TRAINER:
                problems.append(f"{name} imports the trainer ({target})")
            if name in FACADES or target not in modules or target in FACADES:
                continue
            source_room, target_room = room_of(name), room_of(target)
            if target_room == "cli" and source_room != "cli":
                problems.append(f"{name} imports the command line ({target})")
            elif rooms.index(target_room) > rooms.index(source_room):
                problems.append(f"{name} ({source_room}) imports {target} ({target_room}), a room above it")
    internal = {name: {t for t in imported if t in modules and t != root} for name, imported in graph.items()}
    problems.extend(f"import cycle: {' -> '.join(cycle)}" for cycle in _cycles(internal))
    return problems


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component) + [sorted(component)[0]])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_keeps_every_rule():
    assert violations(PACKAGE_DIR) == []


def test_every_module_sits_in_a_known_room():
    strays = [name for name in module_names(PACKAGE_DIR) if room_of(name) not in ROOMS]
    assert strays == []


def _write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"io/a.py": "def f():\n    from ..models import m\n", "models/m.py": ""}, "a room above it"),
        ({"models/m.py": "import training.train\n"}, "imports the trainer"),
        ({"viz/v.py": "from ..cli import main\n", "cli/main.py": ""}, "imports the command line"),
        ({"models/a.py": "from . import b\n", "models/b.py": "def f():\n    from .a import x\n"}, "import cycle"),
        ({"data/a.py": "from ..meta_eval import run\n", "meta_eval/__init__.py": ""}, "a room above it"),
    ],
)
def test_the_checker_catches_each_kind_of_violation(tmp_path, files, expected):
    package = _write(tmp_path, {"__init__.py": "", **{f: t for f, t in files.items()}})
    for folder in {Path(f).parent for f in files} - {Path(".")}:
        (package / folder / "__init__.py").touch()
    problems = violations(package)
    assert any(expected in p for p in problems), problems


def test_typing_only_imports_do_not_count(tmp_path):
    package = _write(tmp_path, {
        "__init__.py": "",
        "models/__init__.py": "",
        "models/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n",
        "models/b.py": "from . import a\n",
    })
    assert violations(package) == []


def _modules_after(statement: str) -> set:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


@pytest.mark.slow  # a fresh interpreter importing torch and open_clip
def test_importing_the_library_never_loads_the_trainer():
    loaded = _modules_after("import i2imetric; i2imetric.create_metric; import i2imetric.cli, i2imetric.evaluation.runner")
    assert "i2imetric.models.factory" in loaded
    assert not any(name.split(".")[0] in TRAINER for name in loaded)


def test_plain_import_is_light():
    loaded = _modules_after("import i2imetric")
    assert "torch" not in loaded and "open_clip" not in loaded


def test_public_names_resolve():
    import i2imetric

    for name in i2imetric.__all__:
        assert getattr(i2imetric, name) is not None
