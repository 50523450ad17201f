"""What `make dist` builds: the wheel holds the package and nothing else, twine accepts both
distributions, the version comes from one place, and the MWAA requirements files are filled in."""

from __future__ import annotations

import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from airflow_sales_provider import __version__
from tests.release.conftest import PACKAGE, REPO, run

SUPPORTED_MWAA = {"3.0.6": ("3.0.6", "3.12"), "2.10.3": ("2.10.3", "3.11")}


def test_twine_accepts_the_wheel_and_the_sdist(dist: Path, release_bin: Path):
    files = sorted(dist.glob("airflow_sales_provider-*"))
    assert sorted(f.suffix for f in files) == [".gz", ".whl"]
    result = run([release_bin / "twine", "check", "--strict", *files])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2


def test_the_wheel_holds_the_package_typing_marker_entry_point_and_license(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = f"airflow_sales_provider-{__version__}.dist-info"
    assert "airflow_sales_provider/__init__.py" in names
    assert "airflow_sales_provider/py.typed" in names
    assert f"{dist_info}/licenses/LICENSE" in names
    sources = {p.relative_to(REPO / "src").as_posix() for p in (REPO / "src").rglob("*.py")}
    assert sources <= set(names), f"modules missing from the wheel: {sorted(sources - set(names))}"
    entry_points = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    provider_info = "provider_info = airflow_sales_provider.get_provider_info:get_provider_info"
    assert f"[apache_airflow_provider]\n{provider_info}\n" in entry_points
    license_text = zipfile.ZipFile(wheel).read(f"{dist_info}/licenses/LICENSE").decode()
    assert "Apache License" in license_text and "Version 2.0" in license_text


def test_the_wheel_holds_nothing_from_tests_examples_or_benchmarks(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    strays = [n for n in names if not n.startswith(("airflow_sales_provider/", "airflow_sales_provider-"))]
    assert strays == []
    for folder in ("tests", "examples", "benchmarks", "deploy", "docs"):
        assert not [n for n in names if f"/{folder}/" in f"/{n}"], f"{folder}/ leaked into the wheel"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_sdist_holds_license_changelog_and_the_kit(dist: Path):
    (sdist,) = dist.glob("*.tar.gz")
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    for expected in ("LICENSE", "CHANGELOG.md", "pyproject.toml", "deploy/mwaa/kit.py", "mkdocs.yml"):
        assert expected in names, f"{expected} missing from the sdist"


def test_the_version_comes_from_one_place(wheel: Path):
    """The wheel's version, its metadata, the provider info and the changelog's newest entry agree."""
    from airflow_sales_provider.get_provider_info import get_provider_info

    assert wheel.name.startswith(f"airflow_sales_provider-{__version__}-")
    dist_info = f"airflow_sales_provider-{__version__}.dist-info"
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    assert f"\nVersion: {__version__}\n" in metadata
    assert get_provider_info()["versions"][0] == __version__
    first_entry = re.search(r"^## (\S+)", (REPO / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert first_entry and first_entry.group(1) == __version__, "CHANGELOG.md starts with another version"
    pyproject = (REPO / "pyproject.toml").read_text()
    assert not re.search(r"^version\s*=", pyproject, re.MULTILINE), "pyproject.toml pins its own version"
    assert 'dynamic = ["version"]' in pyproject


@pytest.mark.parametrize("page", ["README.md", *sorted(p.name for p in (REPO / "docs").glob("*.md"))])
def test_docs_name_the_current_version(page: str):
    path = REPO / page if page == "README.md" else REPO / "docs" / page
    for named in re.findall(rf"{PACKAGE}==(\d[\w.+-]*\w)", path.read_text()):
        assert named == __version__, f"{page} pins {PACKAGE}=={named}, the package is {__version__}"


@pytest.mark.parametrize("mwaa", sorted(SUPPORTED_MWAA), ids=lambda v: f"mwaa-{v}")
def test_make_dist_fills_in_the_mwaa_requirements(dist: Path, mwaa: str):
    airflow, python = SUPPORTED_MWAA[mwaa]
    private = (dist / "mwaa" / mwaa / "requirements-private-index.txt").read_text()
    constraint = (
        f"https://raw.githubusercontent.com/apache/airflow/constraints-{airflow}/constraints-{python}.txt"
    )
    assert f'--constraint "{constraint}"' in private.splitlines()
    assert f"{PACKAGE}=={__version__}" in private.splitlines()
    assert not re.search(r"@[A-Z_]+@", private), "an unfilled @TOKEN@ is left"
    plugins = (dist / "mwaa" / mwaa / "requirements-plugins.txt").read_text().splitlines()
    assert f'--constraint "/usr/local/airflow/plugins/constraints-{python}.txt"' in plugins
    expected = {"--no-index", "--find-links /usr/local/airflow/plugins", f"{PACKAGE}=={__version__}"}
    assert expected <= set(plugins)
