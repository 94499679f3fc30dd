"""The layout's promises: the science imports no Ray, every Ray import lives in
study/engine/tune/, and the analysis reads Parquet without importing the study package."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _files(*parts: str) -> list[Path]:
    return sorted(ROOT.joinpath(*parts).rglob("*.py"))


@pytest.mark.parametrize("package", ["study", "analysis", "search_spaces"])
def test_ray_is_imported_only_under_study_engine_tune(package):
    tune = ROOT / "study" / "engine" / "tune"
    offenders = [str(p.relative_to(ROOT)) for p in _files(package)
                 if tune not in p.parents and any(n == "ray" or n.startswith("ray.") for n in _imports(p))]
    assert offenders == []


def test_the_analysis_does_not_import_the_study_package():
    offenders = [str(p.relative_to(ROOT)) for p in _files("analysis")
                 if any(n == "study" or n.startswith("study.") for n in _imports(p))]
    assert offenders == []


def test_the_science_does_not_import_the_engine():
    offenders = [str(p.relative_to(ROOT)) for p in _files("study", "gan")
                 if any(n.startswith("study.engine") for n in _imports(p))]
    assert offenders == []


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports, anywhere in its body (function-level and
    TYPE_CHECKING imports too). The rule: ``import a.b.c`` and ``from a.b import c`` (c a
    submodule) import a.b.c only; ``from a.b import name`` (name not a submodule) imports a.b, the
    package's __init__; relative imports are resolved against the importing module's package. The
    parent packages Python also runs (a, a.b) are not edges: a package's __init__ that re-exports
    its submodules would otherwise make a cycle with each of them; its own imports are its edges."""
    files = {_module_name(p): p for p in _files(package)}

    def known(name: str) -> str | None:  # the longest prefix that is a module of the package
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        here = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {known(a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # from . import x, from ..b import x
                    parent = here.split(".")[:len(here.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                for alias in node.names:
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else known(base))
        graph[module] = {t for t in targets if t and t != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_graph_rule_reads_every_kind_of_import():
    graph = _import_graph("study")
    assert "study.gan.data.registry" in graph["study.gan.data"]  # a package's __init__ is the package
    assert "study.gan.data.digits" in graph["study.gan.data"]  # from a package import a submodule
    assert "study.gan.data" in graph["study.gan.config"]  # an import inside a function body
    assert "study.gan" not in graph["study.gan.data.digits"]  # parent packages are not edges


def test_cycles_are_the_components_of_more_than_one_module():
    graph = {"a": {"b"}, "b": {"c", "d"}, "c": {"a"}, "d": {"e"}, "e": {"d"}, "f": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"], ["d", "e"]]


def test_no_module_of_the_study_package_takes_part_in_an_import_cycle():
    cycles = _cycles(_import_graph("study"))
    assert not cycles, "modules that import one another: " + "; ".join(", ".join(c) for c in cycles)


LOOP_MODULES = ("study/gan/training", "study/gan/fused", "study/gan/trial.py")
MAX_LOOP_FUNCTION_LINES = 60


def test_no_function_of_the_training_loop_is_over_60_lines():
    """The loop stays a set of small steps (issue 21: ``trial._run`` had grown to 167 lines)."""
    long = []
    for part in LOOP_MODULES:
        path = ROOT / part
        for file in ([path] if path.is_file() else _files(part)):
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_LOOP_FUNCTION_LINES:
                        long.append(f"{file.relative_to(ROOT)}::{node.name} ({lines} lines)")
    assert long == []
