"""Imports run one way: no cycles among augmill's modules, and no module imports one of a higher
layer. Every import counts, lazy ones inside functions too (they hide cycles, not remove them).

The layers, lowest first. A module belongs to the first layer with a pattern that matches it
(``x.*`` matches x's submodules). Each layer may import only its own and lower layers.
"""

from __future__ import annotations

import fnmatch
import functools

import pytest

from tests.test_dvc_deps import REPO, imported_modules, module_file

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # Helpers with no knowledge of stages, params or modalities: files, hashing, seeds, paths, samples.
    ("base", ("tasks", "tasks.io", "tasks.png", "tasks.paths", "tasks.faults", "tasks.seeding", "tasks.progress",
              "tasks.environment", "tasks.params_base", "tasks.cache", "tasks.feature_memo", "tasks.stats",
              "tasks.samples")),
    # What every modality's reader, checks and pages build on: a file dataset's manifest and splits
    # (ingest), image files, Great Expectations suites, matplotlib set up for PNGs.
    ("shared helpers", ("tasks.ingest", "tasks.imaging", "tasks.gx_validation", "tasks.report_plots")),
    # A modality's own data types and file reading, shared by its params, operators and hooks
    # (clips, table schemas, tokens, lexicons, text files). In the per-modality layout of #17 they
    # sit in the modality's folder beside its operators.
    ("modality primitives", ("tasks.modalities.audio.signal", "tasks.modalities.tabular.schema",
                             "tasks.modalities.text.tokens", "tasks.modalities.text.lexicon",
                             "tasks.modalities.text.files")),
    # The params model: plain data checked field by field. Checks across sections that need
    # operators, modalities or demos are in tasks.params_load (a stage-level module).
    # The modality contract and registry are declarations too (the contract imports nothing at run time).
    ("params", ("tasks.params", "tasks.modalities.*.params", "tasks.generative.params", "tasks.modalities",
                "tasks.modalities.contract", "tasks.policy_choice")),
    # The operators: the shared machinery in tasks/ops, each modality's own beside its hooks.
    ("operators", ("tasks.ops", "tasks.ops.*", "tasks.modalities.*.ops", "tasks.modalities.*.ops_*")),
    # Page pieces the modalities' galleries and previews draw with.
    ("pages", ("tasks.preview", "tasks.review_pages")),
    ("modalities", ("tasks.modalities.*", "tasks.demos", "tasks.demos.*")),
    # Stage logic: takes data and params (and a mapper where work spreads), returns results; knows no executor.
    ("stages", ("tasks.*",)),
    # Orchestration: the CLI, the Prefect flow, the executors, DVC bookkeeping.
    ("flows", ("flows", "flows.*")),
]


def layer_of(module: str) -> int:
    for index, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(module, pattern) for pattern in patterns):
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def all_modules() -> list[str]:
    found = []
    for package in ("tasks", "flows"):
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


@functools.cache
def graph() -> dict[str, set[str]]:
    """module -> the augmill modules it imports (``from package import module`` counts as the module)."""
    edges = {}
    for module in all_modules():
        path = module_file(f"augmill.{module}")  # the installed names; the layers use the folders' names
        targets = {name.removeprefix("augmill.") for name in imported_modules(path) if module_file(name) is not None}
        edges[module] = targets - {module}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{source} ({LAYERS[layer_of(source)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
                  for source, targets in edges.items() for target in targets
                  # a package's __init__ is imported with any of its modules: only its own code counts
                  if layer_of(target) > layer_of(source) and not source.startswith(target + "."))


def test_every_module_is_in_a_layer():
    for module in all_modules():
        layer_of(module)


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_no_lower_layer_imports_a_higher_one():
    assert upward_imports(graph()) == []


@pytest.mark.parametrize("edges, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_cycle_finder(edges, expected):
    assert cycles(edges) == expected


def test_an_upward_import_is_caught():
    assert upward_imports({"tasks.ops.policy": {"tasks.augment"}}) == [
        "tasks.ops.policy (operators) imports tasks.augment (stages)"]
