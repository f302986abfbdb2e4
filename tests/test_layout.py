"""The package layout holds together: every module imports on its own, and no two import each other.

Why: `audit/calibration.py` and `audit/scan.py` once imported each other, which worked only for
the import order the CLI happened to use. These tests find such a cycle in any module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("audit", "detectors", "experiments")


def _modules() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Project modules ``path`` imports, at top level or inside its functions (a lazy import that closes
    a cycle still ties two modules into one); ``if TYPE_CHECKING`` blocks, which never run, are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                for alias in node.names:
                    # `from pkg import module` needs the module, not pkg's __init__ to be finished.
                    submodule = f"{base}.{alias.name}"
                    targets.add(submodule if submodule in known else base)
            else:
                visit([c for c in ast.iter_child_nodes(node) if isinstance(c, (ast.stmt, ast.excepthandler))])

    visit(tree.body)
    return {t for t in targets if t in known and t != name}


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(path, name, set(modules)) for name, path in modules.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle(tmp_path: Path) -> None:
    """The check above is only worth something if it can fail: two modules importing each other."""
    (tmp_path / "a.py").write_text("from pkg import b\n")
    (tmp_path / "b.py").write_text("import pkg.a\n")
    found = {"pkg.a": _imports(tmp_path / "a.py", "pkg.a", {"pkg.a", "pkg.b"}),
             "pkg.b": _imports(tmp_path / "b.py", "pkg.b", {"pkg.a", "pkg.b"})}
    assert found == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}}


def test_every_module_imports_on_its_own() -> None:
    """Each module, imported first in a fresh set of project modules, loads (third-party ones stay loaded)."""
    names = [n for n in _modules() if not n.endswith("__main__")]
    script = (
        "import importlib, sys, traceback\n"
        f"names = {names!r}\n"
        "failed = []\n"
        "for name in names:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in ('audit', 'detectors', 'experiments')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(failed))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "", "modules that fail to import on their own:\n" + out.stdout
    assert len(names) > 50  # the walk found the packages


ALLOWED_BELOW = {
    "detectors": ("detectors", "audit.core", "audit.filters"),
    "audit.report": ("audit.report", "audit.core", "audit.version"),
    "audit.core": ("audit.core",),
    "audit.filters": ("audit.filters",),
}
"""What each lower part may import (at any depth of a module, lazy imports included): detectors the shared
contracts and the text filters only; the report its own modules and the contracts (it reads reports, never
scored rows or models); the contracts and the filters nothing above them."""


def test_each_lower_part_imports_only_what_sits_below_it() -> None:
    modules = _modules()
    known = set(modules)
    wrong = []
    for part, allowed in ALLOWED_BELOW.items():
        for name, path in modules.items():
            if name != part and not name.startswith(part + "."):
                continue
            for target in _imports(path, name, known):
                if not any(target == a or target.startswith(a + ".") for a in allowed):
                    wrong.append(f"{name} -> {target}")
    assert not wrong, "imports that run up the layout: " + "; ".join(sorted(wrong))
