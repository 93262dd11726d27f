"""The rules docs/architecture.md states, checked on the code's own imports (function-local
imports counted): wings by job, no cycles, MLflow only in tracking/, pyspark only in spark/,
the typed config only at the run, short functions, one training run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "clustering"


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(p.relative_to(SRC).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


MODULES = modules()


def in_wing(module: str, wing: str) -> bool:
    return module == f"clustering.{wing}" or module.startswith(f"clustering.{wing}.")


def imports_of(name: str) -> tuple[set[str], set[str]]:
    """(the package's modules ``name`` imports, the outside packages it imports)."""
    path = MODULES[name]
    inner, outer = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".")[: None if path.name == "__init__.py" else -1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join(pkg + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            if not t.startswith("clustering"):
                outer.add(t.split(".")[0])
                continue
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t not in (name, "clustering"):
                inner.add(t)
            # importing a.b from outside package a runs a's __init__ first: an edge too
            package = t.rpartition(".")[0]
            if package in MODULES and package != "clustering" and not in_wing(name, package[11:]):
                inner.add(package)
    return inner, outer


GRAPH = {m: imports_of(m) for m in MODULES}


def test_at_most_twelve_modules_at_the_top():
    top = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert len(top) <= 12, sorted(top)


def test_no_import_cycles():
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(GRAPH[m][0]):
            if state.get(d) == 1:
                cycles.append(path[path.index(d):] + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in MODULES:
        if m not in state:
            visit(m, [m])
    assert cycles == []


@pytest.mark.parametrize("package, wing", [("mlflow", "tracking"), ("pyspark", "spark")])
def test_heavy_dependencies_stay_in_their_wing(package, wing):
    outside = [m for m, (_, outer) in GRAPH.items() if package in outer and not in_wing(m, wing)]
    assert outside == []


def test_the_typed_config_stops_at_the_run():
    users = sorted(m for m, (inner, _) in GRAPH.items() if "clustering.config" in inner)
    assert users == ["clustering.training"]


def test_no_hydra_in_the_library():
    """Hydra composes the configuration in pipelines/; the schema (config.py) takes only
    omegaconf's MISSING marker from it."""
    assert [m for m, (_, outer) in GRAPH.items() if "hydra" in outer] == []
    assert [m for m, (_, outer) in GRAPH.items() if "omegaconf" in outer] == ["clustering.config"]


def test_no_function_over_80_lines():
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 80:
                    long.append(f"{name}.{node.name} ({n} lines)")
    assert long == []


def test_one_training_run_for_both_engines():
    runs = [f"{m}.{node.name}" for m, p in MODULES.items()
            for node in ast.walk(ast.parse(p.read_text()))
            if isinstance(node, ast.FunctionDef) and "run_" in node.name and "training" in node.name]
    assert runs == ["clustering.training.run_training"]


def test_every_wing_has_a_public_face():
    """Each subpackage's __init__ says what the wing is for (a docstring)."""
    faceless = [p.parent.name for p in PACKAGE.glob("*/__init__.py")
                if ast.get_docstring(ast.parse(p.read_text())) is None]
    assert faceless == []


def test_tests_mirror_the_wings():
    tests = Path(__file__).resolve().parents[1]
    wings = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert wings - {p.name for p in tests.iterdir() if p.is_dir()} == set()


def test_the_documented_stage_graphs_are_the_code_s():
    """docs/architecture.md shows what docs/stage_graph.py prints from the code."""
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("stage_graph", root / "docs" / "stage_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    doc = (root / "docs" / "architecture.md").read_text()
    for name, text in module.graphs().items():
        assert f"<!-- stage graph: {name} -->\n```mermaid\n{text}\n```" in doc, name
