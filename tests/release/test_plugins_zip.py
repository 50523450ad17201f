"""The offline path MWAA uses without internet: plugins.zip and ``pip install --no-index``.

For each Airflow line, ``deploy/mwaa/kit.py plugins-zip`` (what ``make plugins-zip`` runs) builds the
zip under the line's constraints for what that line's MWAA version preinstalls; the test unzips it as
MWAA does into a plugins folder and installs the rendered ``requirements-plugins.txt`` with pip into a
fresh virtualenv holding only the preinstalled packages: nothing may come from an index.
"""

from __future__ import annotations

import platform
import zipfile
from pathlib import Path

import pytest

from airflow_sales_provider import __version__
from tests.release.conftest import (
    KIT,
    MWAA_OF_LINE,
    PACKAGE,
    airflow_env,
    base_requirements,
    clean_env,
    freeze,
    fresh_airflow,
    release_lines,
    run,
)

LINES = release_lines()
pytestmark = pytest.mark.skipif(not LINES, reason="SALES_RELEASE_LINES names no Airflow line (af3, af2)")
PYTHON = platform.python_version()  # the fresh virtualenvs' (this machine's) Python
PYTHON_MINOR = PYTHON.rsplit(".", 1)[0]


@pytest.mark.parametrize("line", LINES)
def test_plugins_zip_installs_with_no_index(
    line: str, dist: Path, line_constraints, release_bin: Path, tmp_path: Path
):
    constraints = line_constraints(line)
    base = base_requirements(line, constraints, tmp_path)
    mwaa = MWAA_OF_LINE[line]
    built = run(
        [release_bin / "python", KIT, "plugins-zip", dist, "--mwaa-version", mwaa,
         "--constraints", constraints, "--base", base, "--python-version", PYTHON],
        env=clean_env(),
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    archive = dist / "mwaa" / mwaa / "plugins.zip"
    names = zipfile.ZipFile(archive).namelist()
    assert f"airflow_sales_provider-{__version__}-py3-none-any.whl" in names
    assert f"constraints-{PYTHON_MINOR}.txt" in names
    assert all("/" not in name for name in names), "MWAA unpacks plugins.zip into plugins/: no folders"

    plugins = tmp_path / "plugins"  # stands in for /usr/local/airflow/plugins
    zipfile.ZipFile(archive).extractall(plugins)
    rendered = (dist / "mwaa" / mwaa / "requirements-plugins.txt").read_text()
    assert "--no-index" in rendered.splitlines()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(rendered.replace("/usr/local/airflow/plugins", str(plugins)))

    python = fresh_airflow(tmp_path / "venv", base, constraints)
    before = freeze(python)
    installed = run(
        [python, "-m", "pip", "install", "--disable-pip-version-check", "-r", requirements],
        env=clean_env(PIP_NO_INPUT="1"),
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    after = freeze(python)
    assert after.get(PACKAGE) == __version__
    assert {n: v for n, v in before.items() if after.get(n) != v} == {}, (
        "the install changed preinstalled packages"
    )
    brought = {n for n in after if n not in before} - {PACKAGE}
    shipped = {name.split("-", 1)[0].replace("_", "-").lower() for name in names if name.endswith(".whl")}
    assert brought <= shipped, f"installed without a wheel in plugins.zip: {sorted(brought - shipped)}"

    providers = run([python.parent / "airflow", "providers", "list"], env=airflow_env(tmp_path / "airflow"))
    assert providers.returncode == 0, providers.stderr
    assert PACKAGE in providers.stdout
