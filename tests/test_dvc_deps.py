"""Every stage in dvc.yaml lists all the code it runs: each file in the stage's import
closure (computed from the source with ast, starting from what `augmill stage NAME`
runs) must be a dependency of the stage, by itself or inside a listed folder. Otherwise
a change to that file leaves outputs that `dvc status` calls up to date."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest
import yaml

from augmill.flows.stages import LAZY_IMPORTS, STAGE_NAMES

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("tasks", "flows")

# What `augmill stage NAME` runs besides the stage's module: the params it loads (tasks.params,
# whose defaults and derived values shape outputs) and the stage table, which picks the
# function and its arguments (prepare's target folder, augment's shard mapper). The rest of
# flows/ (the CLI, the Prefect flow, DVC bookkeeping, the workspace lock) only schedules
# stages: outputs are byte-identical whichever runs them (test_e2e_runs), so it is not a dependency.
ENTRY_MODULES = ("augmill.flows.stages", "augmill.tasks.params")

# Data files read by code, by how the code names them (source text -> path in the repository).
DATA_READS = {
    'PackageLoader("augmill.tasks", "templates")': "tasks/templates",
    "paths.EXPECTATIONS": "expectations",
    'parent / "data"': "tasks/modalities/text/data",
}


def module_file(name: str) -> Path | None:
    """The file of an augmill module (tasks.x.y), or None for a module from elsewhere."""
    parts = name.split(".")
    if parts[0] != "augmill" or len(parts) < 2 or parts[1] not in PACKAGES:
        return None
    base = REPO.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def imported_modules(path: Path) -> set[str]:
    """Every module the file imports, at any depth (functions import lazily here). For
    ``from package import name`` both the package and package.name (if a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def dynamic_imports(path: Path) -> set[Path]:
    """A module that imports by a computed name (importlib.import_module(f"augmill.tasks.ops.{name}"))
    may run any module of that package: all of them, except for the stage table, whose
    computed import is the stage module the closure starts from."""
    if path == REPO / "flows/stages.py" or "import_module(" not in path.read_text(encoding="utf-8"):
        return set()
    package = path.parent
    if path.name != "__init__.py" and not (package / "__init__.py").is_file():
        return set()
    # The two that reach into the modality subpackages: the registry loads each one's
    # operators, get_modality its hooks (and each import runs the subpackage's __init__).
    beyond = {"tasks/ops/registry.py": ("*/__init__.py", "*/ops.py", "*/ops_*.py"),
              "tasks/modalities/__init__.py": ("*/__init__.py", "*/modality.py")}
    found = set(package.glob("*.py"))
    for pattern in beyond.get(path.relative_to(REPO).as_posix(), ()):
        found.update((REPO / "tasks/modalities").glob(pattern))
    return found


def closure(stage: str) -> set[Path]:
    """The augmill files (code and the data files it reads) that `augmill stage NAME` runs."""
    starts = [*ENTRY_MODULES, f"augmill.tasks.{stage}", *LAZY_IMPORTS.get(stage, ())]
    todo = [path for path in map(module_file, starts) if path is not None]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(path):
            # Importing tasks.x.y runs tasks/__init__.py and tasks/x/__init__.py first.
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                found = module_file(".".join(parts[:depth]))
                if found is not None:
                    todo.append(found)
        todo.extend(dynamic_imports(path))
    data = {REPO / folder for path in seen for idiom, folder in DATA_READS.items()
            if idiom in path.read_text(encoding="utf-8")}
    return seen | data


def stage_deps(stage: str) -> list[str]:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    return [dep for dep in stages[stage].get("deps", []) if not dep.startswith("${")]


def uncovered(stage: str, deps: list[str]) -> list[str]:
    """Files of the stage's closure that none of deps (files or folders) covers."""
    deps = [dep.rstrip("/") for dep in deps]
    missing = []
    for path in sorted(closure(stage)):
        relative = path.relative_to(REPO).as_posix()
        if path.name == "__init__.py" and path.stat().st_size == 0:
            continue  # an empty package marker runs nothing
        if not any(relative == dep or relative.startswith(dep + "/") for dep in deps):
            missing.append(relative)
    return missing


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_every_file_a_stage_runs_is_a_dependency_of_the_stage(stage):
    missing = uncovered(stage, stage_deps(stage))
    assert not missing, f"dvc.yaml stage {stage}: add to its deps: {', '.join(missing)}"


def test_the_closure_follows_lazy_and_computed_imports():
    """The closure finds what the issue found missing, by the routes the code takes: validate
    reaches tasks/augment.py and tasks/imaging.py through the modality hooks (a computed
    import), merge reaches tasks/ingest.py and tasks/bias.py through the modalities."""
    validate = {p.relative_to(REPO).as_posix() for p in closure("validate")}
    merge = {p.relative_to(REPO).as_posix() for p in closure("merge")}
    assert {"tasks/augment.py", "tasks/imaging.py", "tasks/modalities/tabular/modality.py", "tasks/modalities/image/ops.py",
            "tasks/templates", "expectations", "flows/stages.py", "tasks/params.py"} <= validate
    assert {"tasks/ingest.py", "tasks/bias.py"} <= merge
    # Not everything: the CLI, augmill tune and the loaders are no stage's code.
    assert not {"flows/cli.py", "tasks/tune.py", "tasks/loaders.py", "tasks/export.py"} & validate


def test_a_file_missing_from_the_deps_is_named():
    """The check fails, naming the file, when a stage's deps leave out a file it runs."""
    deps = [dep for dep in stage_deps("bias") if dep != "tasks/bias.py"]
    assert uncovered("bias", deps) == ["tasks/bias.py"]
