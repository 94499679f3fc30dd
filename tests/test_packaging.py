"""pyproject.toml's license is an SPDX expression (PEP 639): the ``{ text = ... }`` table is
deprecated and builds with it are refused after 2027-02-18 (issue 22)."""
from pathlib import Path

import tomllib
from packaging.licenses import canonicalize_license_expression

PYPROJECT = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())


def test_the_license_is_an_spdx_string_and_the_backend_reads_it():
    license = PYPROJECT["project"]["license"]
    assert isinstance(license, str) and canonicalize_license_expression(license) == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in PYPROJECT["project"].get("classifiers", []))
    assert "setuptools>=77" in PYPROJECT["build-system"]["requires"][0]  # the first to read the string form
