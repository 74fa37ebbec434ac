"""dvc.yaml's code deps are the project modules each stage really imports, no more and no fewer.

A stage's module is the `python -m stages.X` of its cmd; its imports are read with `ast` (nothing is
imported), through other project modules, including the lazy ones inside functions: a module that only
a branch imports still decides that branch's outputs. `if TYPE_CHECKING:` blocks never run, so they
count for nothing. The stages come from DVC itself, so matrix items are checked one by one.
"""

from __future__ import annotations

import ast
import os
import shlex
from functools import cache
from pathlib import Path, PurePosixPath

import pytest
from dvc.repo import Repo

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "stages"


def module_file(module: str) -> PurePosixPath | None:
    """The file behind a project module name (relative to ROOT), or None for anything else."""
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        return None
    base = PurePosixPath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if (ROOT / path).is_file():
            return path
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST):
    """Every node of the tree except those under `if TYPE_CHECKING:` (its `else:` does run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _imported_names(path: PurePosixPath) -> set[str]:
    """The absolute module names one file imports: `from a import b` names a, and a.b (b may be a module)."""
    package = ".".join(path.parent.parts)  # the package a relative import starts from, for __init__.py too
    names = set()
    for node in _runtime_nodes(ast.parse((ROOT / path).read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: up level-1 packages from this file's package
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


@cache
def project_imports(path: PurePosixPath) -> frozenset[PurePosixPath]:
    """The project module files one file imports, directly or through other project modules."""
    found: set[PurePosixPath] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        for name in _imported_names(current):
            target = module_file(name)
            if target is not None and target not in found and target != path:
                found.add(target)
                todo.append(target)
    return frozenset(found)


def cmd_module(cmd: str) -> str:
    words = shlex.split(cmd)
    return words[words.index("-m") + 1]


def _code_deps(stage) -> set[PurePosixPath]:
    """The stage's deps that lie inside the package: files, or directories standing for every file in them
    (relative to the project root, whatever the stage's wdir)."""
    paths = {PurePosixPath(os.path.relpath(dep.fs_path, ROOT)) for dep in stage.deps}
    return {path for path in paths if path.parts[0] == PACKAGE}


def _covered(module: PurePosixPath, deps: set[PurePosixPath]) -> bool:
    return any(module == dep or dep in module.parents for dep in deps)


def _is_package_init(path: PurePosixPath) -> bool:
    return path.name == "__init__.py"


@cache
def stages() -> tuple:
    with Repo(str(ROOT)) as repo:
        return tuple(stage for stage in repo.index.stages if stage.cmd)


def stage_ids() -> list[str]:
    return [stage.addressing for stage in stages()]


@pytest.mark.parametrize("stage", stages(), ids=stage_ids())
def test_stage_deps_are_its_imports(stage) -> None:
    module = module_file(cmd_module(stage.cmd))
    assert module is not None, f"{stage.addressing}: its cmd runs no project module: {stage.cmd!r}"
    deps = _code_deps(stage)
    assert _covered(module, deps), f"{stage.addressing}: dvc.yaml does not list its own module {module} as a dep"
    # Package __init__ files hold only a docstring (the test below), so no output depends on them.
    imported = {path for path in project_imports(module) if not _is_package_init(path)}
    missing = sorted(str(path) for path in imported if not _covered(path, deps))
    assert not missing, f"{stage.addressing}: imports {', '.join(missing)}, which dvc.yaml does not list as deps"
    needed = imported | {module}
    extra = sorted(str(dep) for dep in deps if dep.suffix == ".py" and dep not in needed)
    assert not extra, f"{stage.addressing}: dvc.yaml lists {', '.join(extra)}, which it never imports"


def test_package_inits_hold_no_code() -> None:
    """No stage lists stages/__init__.py and the like: that is true only while they hold nothing but a docstring."""
    for path in sorted(ROOT.glob(f"{PACKAGE}/**/__init__.py")):
        body = ast.parse(path.read_text()).body
        code = body[1:] if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) else body
        assert not code, f"{path.relative_to(ROOT)} holds code: every stage importing it must list it as a dep"


def test_the_walk_finds_lazy_and_transitive_imports() -> None:
    """The walk itself: featurize reaches encoders.py only through a function-level import in embedding.py."""
    found = project_imports(PurePosixPath("stages/featurize.py"))
    assert PurePosixPath("stages/common/encoders.py") in found
    assert PurePosixPath("stages/common/errors.py") in found
