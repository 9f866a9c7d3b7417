"""The layers of mlipcamp point one way (docs/architecture.md), and no module imports itself
through others. Imports are read from the source with ``ast``, function-level ones included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mlipcamp
import mlipcamp.db
import mlipcamp.flows
import mlipcamp.tasks

ROOTS = {  # package -> its folder (flows/, tasks/ and db/ are mapped into mlipcamp)
    "mlipcamp": Path(mlipcamp.__file__).parent,
    "mlipcamp.flows": Path(mlipcamp.flows.__file__).parent,
    "mlipcamp.tasks": Path(mlipcamp.tasks.__file__).parent,
    "mlipcamp.db": Path(mlipcamp.db.__file__).parent,
}
ORCHESTRATION = ("prefect", "prefect_dask", "dask", "distributed", "dask_jobqueue")
PERSISTENCE = ("sqlalchemy", "alembic")
OURS = (
    "mlipcamp.cli",
    "mlipcamp.flows",
    "mlipcamp.tasks",
    "mlipcamp.db",
    "mlipcamp.settings",
    "mlipcamp.plan",
    "mlipcamp.tables",
    "mlipcamp.figures",
    "mlipcamp.science",
)


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    modules = {}
    for package, folder in ROOTS.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if package == "mlipcamp" and parts[0] in ("flows", "tasks", "db"):
                continue
            name = ".".join((package, *parts))
            modules[name.removesuffix(".__init__")] = path
    return modules


MODULES = _modules()


def imports_of(name: str, path: Path) -> set[str]:
    """Modules (ours: the deepest existing one; others: the full name) imported anywhere in a file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).rstrip(".")
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def _in(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def offenders(layer: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    """'module -> import' for each import of a module of ``layer`` that ``forbidden`` names."""
    return sorted(
        f"{name} -> {imported}"
        for name, imported_set in GRAPH.items()
        if _in(name, (layer,))
        for imported in imported_set
        if _in(imported, forbidden) and not _in(imported, allowed)
    )


def test_the_package_holds_all_layers():
    assert all(any(_in(m, (layer,)) for m in MODULES) for layer in OURS)
    assert "mlipcamp.tasks.train" in MODULES and "mlipcamp.science.md.run" in MODULES


def test_science_imports_no_orchestration_persistence_or_upper_layer():
    assert (
        offenders("mlipcamp.science", ORCHESTRATION + PERSISTENCE + tuple(m for m in OURS if m != "mlipcamp.science"))
        == []
    )


@pytest.mark.parametrize("module", ["mlipcamp.tables", "mlipcamp.figures"])
def test_tables_and_figures_import_no_orchestration_persistence_or_upper_layer(module):
    forbidden = (
        ORCHESTRATION
        + PERSISTENCE
        + ("mlipcamp.cli", "mlipcamp.flows", "mlipcamp.tasks", "mlipcamp.db", "mlipcamp.settings")
    )
    assert offenders(module, forbidden) == []


def test_plan_reads_settings_only():
    forbidden = ORCHESTRATION + PERSISTENCE + tuple(m for m in OURS if m not in ("mlipcamp.plan", "mlipcamp.settings"))
    assert offenders("mlipcamp.plan", forbidden) == []


def test_db_stores_plain_data_and_imports_no_science():
    assert offenders("mlipcamp.db", ORCHESTRATION + tuple(m for m in OURS if m != "mlipcamp.db")) == []


def test_settings_import_neither_orchestration_nor_persistence():
    forbidden = (
        ORCHESTRATION
        + PERSISTENCE
        + (
            "mlipcamp.cli",
            "mlipcamp.flows",
            "mlipcamp.tasks",
            "mlipcamp.db",
            "mlipcamp.plan",
            "mlipcamp.tables",
            "mlipcamp.figures",
        )
    )
    assert offenders("mlipcamp.settings", forbidden) == []


def test_every_sql_query_is_in_db():
    assert offenders("mlipcamp.tasks", (*PERSISTENCE, "mlipcamp.flows", "mlipcamp.cli")) == []
    assert offenders("mlipcamp.flows", (*PERSISTENCE, "mlipcamp.cli")) == []


def test_flows_compose_and_compute_nothing():
    """Flows may name the science's settings types, never call science."""
    science = [o for o in offenders("mlipcamp.flows", ("mlipcamp.science",)) if not o.endswith(".settings")]
    assert science == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in graph:
                continue
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_cycle_detection_finds_a_known_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("rule", [test_science_imports_no_orchestration_persistence_or_upper_layer])
def test_a_layer_violation_is_caught(rule, monkeypatch):
    """The rules read the real imports: an added one breaks them."""
    monkeypatch.setitem(GRAPH, "mlipcamp.science.devices", GRAPH["mlipcamp.science.devices"] | {"prefect"})
    with pytest.raises(AssertionError):
        rule()


def test_process_helpers_import_nothing_of_ours():
    assert offenders("mlipcamp.processes", (*ORCHESTRATION, *PERSISTENCE, *OURS)) == []
