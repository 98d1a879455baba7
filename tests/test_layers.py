"""The layering shown in the source tree holds: no import points back up.

interfaces (cli, web) -> execution (worker) -> core (app, tasks, job, attempt, model...) ->
storage (store). The store sees only the core's plain data and helpers, never the app; the core
never imports the worker, even lazily inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "underway"

# What the store may use of the core: plain data and helpers that do no I/O of their own.
CORE_DATA = {"model", "errors", "settings", "codec", "ids", "states", "retry"}

ALLOWED = {
    "core": {"core", "store"},
    "store": {"store", "core-data"},
    "worker": {"worker", "core", "store"},
    "web": {"web", "worker", "core", "store"},
    "cli": {"cli", "web", "worker", "core", "store"},
}


def layer(parts: tuple[str, ...]) -> str:
    top = parts[0] if parts else ""
    if top in {"cli", "__main__"}:
        return "cli"
    if top in {"web", "worker", "store"}:
        return top
    return "core"


def module_parts(path: Path) -> tuple[str, ...]:
    relative = path.relative_to(PACKAGE).with_suffix("")
    parts = relative.parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported(source: str, package: tuple[str, ...]) -> set[tuple[str, ...]]:
    """underway modules imported anywhere in the source of a module of `package`, relative
    imports resolved."""
    found: set[tuple[str, ...]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = base + tuple((node.module or "").split(".")) if node.module else base
                if not node.module:  # from . import a, b: each name may be a module
                    found.update((*base, alias.name) for alias in node.names)
                    continue
                found.add(tuple(p for p in target if p))
            elif node.module and node.module.split(".")[0] == "underway":
                found.add(tuple(node.module.split(".")[1:]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "underway":
                    found.add(tuple(alias.name.split(".")[1:]))
    return found


def allowed(source: str, target: tuple[str, ...]) -> bool:
    kinds = ALLOWED[source]
    target_layer = layer(target)
    if target_layer in kinds:
        return True
    return "core-data" in kinds and target_layer == "core" and target[:1] and target[0] in CORE_DATA


def test_no_import_points_back_up_the_layers() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = module_parts(path)
        package = here if path.name == "__init__.py" else here[:-1]
        source = layer(here)
        for target in imported(path.read_text(), package):
            if target and not allowed(source, target):
                wrong.append(f"{path.relative_to(PACKAGE)} ({source}) imports {'.'.join(target)}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_the_check_sees_a_lazy_import_of_the_worker() -> None:
    # The checker must catch the kind of arrow it exists for: a function-level relative import
    # from the core (app.py once imported worker/executor.py this way).
    source = "def run():\n    from .worker.executor import run_inline\n"
    [target] = imported(source, ())
    assert target == ("worker", "executor")
    assert not allowed("core", target)
    assert imported("from ...model import Status\n", ("store", "sqlite")) == {("model",)}
    assert allowed("store", ("model",))
    assert not allowed("store", ("app",))


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_modules_and_functions_stay_small() -> None:
    # Short modules with one responsibility, short functions: a module that outgrows this is
    # two rooms, and a new area gets modules of its own rather than growing an old one.
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        name = path.relative_to(PACKAGE)
        if (lines := len(text.splitlines())) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}: {node.name}() {length} lines")
    assert not too_long, "over the size limits:\n" + "\n".join(too_long)
