"""The code's layout holds: packages import only downward, no import circle, no module too big.

A newcomer follows a row down the packages in this order; an import that
climbs back up (or a circle of them) is what made the flow hard to follow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "batch_sender"

ORDER = [
    "i18n",  # the language a person reads: every layer says things
    "exit_codes",
    "errors",
    "settings",
    "offloop",
    "esms",
    "options",
    "journal",
    "sheet",
    "check",
    "sending",
    "results",
    "delivery",
    "followers",
    "simulator",
    "api",
    "batch_sender",  # the public door, batch_sender/__init__.py
    "cli",
    "__main__",
    "i18n_extract",  # a Babel extractor for `make messages`, never imported at run time
]
"""Each may import those before it, never one after it."""

MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 300


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, function bodies included, except `if TYPE_CHECKING:` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """The batch_sender modules this one imports at run time (lazily too), with the line."""
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "batch_sender":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "batch_sender":
                continue
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                yield (full if full in MODULES else node.module), node.lineno


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _graph() -> dict[str, set[str]]:
    return {
        module: {target for target, _ in _imports(path) if target != module}
        for module, path in MODULES.items()
    }


def test_every_package_is_in_the_declared_order() -> None:
    assert {_layer(m) for m in MODULES} <= set(ORDER)


def test_packages_import_only_downward() -> None:
    upward = [
        f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} imports {target}"
        for module, path in MODULES.items()
        for target, line in _imports(path)
        if ORDER.index(_layer(target)) > ORDER.index(_layer(module))
    ]
    assert upward == []


def test_no_import_circle() -> None:
    graph = _graph()
    done: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circles.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert circles == []


def test_no_module_over_400_lines_and_no_class_over_300() -> None:
    long_modules = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in MODULES.values()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    long_classes = {
        f"{path.relative_to(PACKAGE.parent)}:{node.name}": size
        for path in MODULES.values()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and (size := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_CLASS_LINES
    }
    assert (long_modules, long_classes) == ({}, {})
