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
