"""The release to a private index, played on loopback for each Airflow line (docs/release.md).

pypiserver with htpasswd stands in for CodeArtifact; twine uploads with the password from the
environment; a fresh virtualenv holding what MWAA preinstalls (Airflow and MWAA's providers, at the line's
versions) installs ``airflow-sales-provider`` with pip from the rendered ``requirements-private-index.txt``
and ``PIP_INDEX_URL`` (what deploy/mwaa/startup.sh exports on MWAA), under the line's constraints.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from airflow_sales_provider import __version__
from tests.release.conftest import (
    MWAA_OF_LINE,
    PACKAGE,
    PrivateIndex,
    airflow_env,
    base_requirements,
    clean_env,
    copy_example_dags,
    freeze,
    fresh_airflow,
    migrated_database,
    release_lines,
    run,
)

LINES = release_lines()
pytestmark = pytest.mark.skipif(not LINES, reason="SALES_RELEASE_LINES names no Airflow line (af3, af2)")


def test_twine_and_the_index_never_show_the_password(private_index: PrivateIndex):
    assert "View at" in private_index.upload_output or "Uploading" in private_index.upload_output
    assert private_index.password not in private_index.upload_output
    assert private_index.password not in private_index.log.read_text()


def test_the_index_refuses_anonymous_and_wrong_credentials(
    private_index: PrivateIndex, release_bin: Path, tmp_path: Path
):
    def install(index_url: str, target: Path) -> int:
        command = [release_bin / "pip", "install", "--no-deps", "--no-cache-dir", "--target", target,
                   "--index-url", index_url, f"{PACKAGE}=={__version__}"]  # fmt: skip
        return run(command, env=clean_env(PIP_NO_INPUT="1")).returncode

    wrong = private_index.url.replace("http://", f"http://{private_index.user}:wrong@")
    for index_url in (private_index.url, wrong):
        assert install(index_url, tmp_path / "refused") != 0, f"{index_url} served without valid credentials"
    assert not (tmp_path / "refused").exists() or list((tmp_path / "refused").iterdir()) == []
    for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"publisher:wrong").decode()}):
        request = urllib.request.Request(f"{private_index.url}{PACKAGE}/", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code in (401, 403)
    # The same request with the right credentials goes through: the refusals were about authentication.
    assert install(private_index.authenticated(), tmp_path / "served") == 0
    assert (tmp_path / "served" / "airflow_sales_provider" / "__init__.py").is_file()


def _install_from_index(python: Path, requirements: Path, index: PrivateIndex):
    # As on MWAA: pip reads the index (with its token) from PIP_INDEX_URL, never from a file or argument.
    return run(
        [python, "-m", "pip", "install", "--disable-pip-version-check", "-r", requirements],
        env=clean_env(PIP_INDEX_URL=index.authenticated(), PIP_NO_INPUT="1"),
    )


@pytest.mark.parametrize("line", LINES)
def test_install_from_the_private_index_under_the_lines_constraints(
    line: str, private_index: PrivateIndex, dist: Path, line_constraints, tmp_path: Path
):
    constraints = line_constraints(line)
    pinned = dict(row.split("==", 1) for row in constraints.read_text().splitlines())
    python = fresh_airflow(tmp_path / "venv", base_requirements(line, constraints, tmp_path), constraints)
    before = freeze(python)
    requirements = tmp_path / "requirements.txt"
    rendered = (dist / "mwaa" / MWAA_OF_LINE[line] / "requirements-private-index.txt").read_text()
    requirements.write_text(
        "\n".join(
            f'--constraint "{constraints}"' if row.startswith("--constraint") else row
            for row in rendered.splitlines()
        )
    )

    installed = _install_from_index(python, requirements, private_index)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert private_index.password not in installed.stdout + installed.stderr

    after = freeze(python)
    assert after.pop(PACKAGE) == __version__
    changed = {n: (before[n], after.get(n)) for n in before if after.get(n) != before[n]}
    assert changed == {}, f"installing the provider changed preinstalled packages: {changed}"
    installers = {"pip", "setuptools", "wheel"}  # the virtualenv's seed, not part of any environment's pins
    off_pin = {n: (v, pinned.get(n)) for n, v in after.items() if pinned.get(n) != v and n not in installers}
    assert off_pin == {}, f"installed versions outside the line's constraints: {off_pin}"

    home = tmp_path / "airflow"
    providers = run([python.parent / "airflow", "providers", "list", "-o", "json"], env=airflow_env(home))
    assert providers.returncode == 0, providers.stderr
    listed = {p["package_name"]: p["version"] for p in json_output(providers.stdout)}
    assert listed.get(PACKAGE) == __version__, f"airflow providers list: {sorted(listed)}"

    # The Databricks example needs the databricks provider, which MWAA does not preinstall: a user who
    # deploys it lists the [databricks] extra, installed here the same way under the same constraints.
    extra = tmp_path / "requirements-examples.txt"
    extra.write_text(f'--constraint "{constraints}"\n{PACKAGE}[databricks]=={__version__}\n')
    installed = _install_from_index(python, extra, private_index)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    _every_example_dag_imports(python, tmp_path, line)


def json_output(stdout: str):
    """The JSON document a CLI printed after any log lines (Airflow logs to stdout on some versions)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(("[", "{")):
            return json.loads(line)
    raise AssertionError(f"no JSON in the output:\n{stdout}")


def _every_example_dag_imports(python: Path, tmp_path: Path, line: str) -> None:
    dags = copy_example_dags(tmp_path)
    env = airflow_env(tmp_path / "airflow", dags)
    airflow = python.parent / "airflow"
    migrated_database(python, line, tmp_path / "airflow", env)
    local = ["--local"] if line == "af3" else ["--subdir", str(dags)]
    errors = run([airflow, "dags", "list-import-errors", *local, "-o", "json"], env=env)
    assert errors.returncode == 0, errors.stdout + errors.stderr
    assert json_output(errors.stdout) == [], errors.stdout
    listed = run([airflow, "dags", "list", *local, "-o", "json"], env=env)
    assert listed.returncode == 0, listed.stderr
    files = {Path(d["fileloc"]).name for d in json_output(listed.stdout)}
    dag_files = {p.name for p in dags.glob("*.py") if "DAG" in p.read_text() or "@dag" in p.read_text()}
    assert dag_files and dag_files <= files, f"DAG files that define no DAG here: {sorted(dag_files - files)}"
