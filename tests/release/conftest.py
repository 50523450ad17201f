"""The release, played once per session on loopback: one build, one private index, shared by every test.

``make test`` runs tests/release once (on ``ONCE_LINE``) and names the Airflow lines to cover in
``SALES_RELEASE_LINES``; each line's installed environment (``.venv/<line>``, frozen) stands in for
Airflow's constraints file for that Airflow version, which this machine cannot download. The tools
(twine, pypiserver, pip, shellcheck) come from ``.venv/release`` (requirements/release.txt).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RELEASE_BIN = REPO / ".venv" / "release" / "bin"
KIT = REPO / "deploy" / "mwaa" / "kit.py"
PACKAGE = "airflow-sales-provider"
# The MWAA version whose preinstalled packages (its pins' names) an Airflow line's fresh environment gets.
MWAA_OF_LINE = {"af3": "3.0.6", "af2": "2.10.3"}
UNDER_MAKE = "SALES_RELEASE_LINES" in os.environ


def release_lines() -> list[str]:
    if UNDER_MAKE:
        return os.environ["SALES_RELEASE_LINES"].split()
    return [line for line in MWAA_OF_LINE if (REPO / ".venv" / line / ".installed").exists()]


def uv() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("timeout", 600)
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment a fresh machine has: none of this machine's pip find-links or index settings."""
    machine_only = ("PIP_FIND_LINKS", "PIP_INDEX", "PIP_EXTRA")
    env = {k: v for k, v in os.environ.items() if not k.startswith(machine_only)}
    env.pop("VIRTUAL_ENV", None)
    env["PIP_CONFIG_FILE"] = os.devnull  # this machine's pip.conf adds local mirrors a user does not have
    return {**env, **extra}


def normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def freeze(python: Path) -> dict[str, str]:
    out = run([uv(), "pip", "freeze", "--python", python], check=True).stdout
    return {normalise(n): v for n, v in (line.split("==", 1) for line in out.splitlines() if "==" in line)}


@pytest.fixture(scope="session")
def release_bin() -> Path:
    if not (RELEASE_BIN / "twine").exists():
        message = "no .venv/release: `make .venv/release/.installed` installs the release tools"
        if UNDER_MAKE:
            pytest.fail(message)
        pytest.skip(message)
    return RELEASE_BIN


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory, release_bin: Path) -> Path:
    """Wheel and sdist built once, as ``make dist`` builds them, with the MWAA requirements rendered."""
    out = tmp_path_factory.mktemp("dist")
    run([uv(), "build", "--quiet", "--out-dir", out, REPO], check=True)
    run([release_bin / "python", KIT, "requirements", out], check=True)
    return out


@pytest.fixture(scope="session")
def wheel(dist: Path) -> Path:
    (built,) = dist.glob("airflow_sales_provider-*.whl")
    return built


@dataclass(frozen=True)
class PrivateIndex:
    url: str  # without credentials
    user: str
    password: str
    upload_output: str
    log: Path

    def authenticated(self) -> str:
        return self.url.replace("http://", f"http://{self.user}:{self.password}@")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(port: int, server: subprocess.Popen, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"pypiserver exited with {server.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"pypiserver did not listen on 127.0.0.1:{port} within {deadline_s}s")


@pytest.fixture(scope="session")
def private_index(tmp_path_factory: pytest.TempPathFactory, release_bin: Path, dist: Path):
    """pypiserver on a free loopback port, every action behind htpasswd, our distributions uploaded.

    Packages it does not hold are redirected to PyPI, as a CodeArtifact repository with an upstream does.
    The password reaches htpasswd and twine only through the environment.
    """
    root = tmp_path_factory.mktemp("index")
    packages, htpasswd, log = root / "packages", root / "htpasswd", root / "pypiserver.log"
    packages.mkdir()
    user, password = "publisher", secrets.token_urlsafe(24)
    secret_env = clean_env(RELEASE_INDEX_PASSWORD=password)
    run(
        [
            release_bin / "python",
            "-c",
            "import os, sys; from passlib.apache import HtpasswdFile; "
            "h = HtpasswdFile(sys.argv[1], new=True); "
            "h.set_password(sys.argv[2], os.environ['RELEASE_INDEX_PASSWORD']); h.save()",
            htpasswd,
            user,
        ],
        env=secret_env,
        check=True,
    )
    port = _free_port()
    with log.open("w") as log_file:
        server = subprocess.Popen(
            [release_bin / "pypi-server", "run", "--host", "127.0.0.1", "--port", str(port),
             "--passwords", htpasswd, "--authenticate", "update,download,list",
             "--fallback-url", "https://pypi.org/simple/", packages],
            stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_for(port, server)
        url = f"http://127.0.0.1:{port}/"
        upload = run(
            [release_bin / "twine", "upload", "--non-interactive", "--disable-progress-bar",
             "--repository-url", url, "--username", user, *sorted(dist.glob("airflow_sales_provider-*"))],
            env={**secret_env, "TWINE_PASSWORD": password},
        )  # fmt: skip
        assert upload.returncode == 0, upload.stdout + upload.stderr
        yield PrivateIndex(f"{url}simple/", user, password, upload.stdout + upload.stderr, log)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="session")
def line_constraints(tmp_path_factory: pytest.TempPathFactory):
    """The constraints file of an Airflow line: its installed environment, less this package itself."""
    made: dict[str, Path] = {}

    def constraints(line: str) -> Path:
        if line not in made:
            python = REPO / ".venv" / line / "bin" / "python"
            if not python.exists():
                pytest.fail(f"SALES_RELEASE_LINES names {line}, but .venv/{line} does not exist")
            pins = {n: v for n, v in freeze(python).items() if n != PACKAGE}
            path = tmp_path_factory.mktemp(f"constraints-{line}") / f"constraints-{line}.txt"
            path.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
            made[line] = path
        return made[line]

    return constraints


def base_requirements(line: str, constraints: Path, into: Path) -> Path:
    """What MWAA preinstalls, at this line's versions: Airflow and the providers MWAA's pins name."""
    pinned = dict(line.split("==", 1) for line in constraints.read_text().splitlines())
    pins = REPO / "deploy" / "mwaa" / "pins" / f"{MWAA_OF_LINE[line]}.txt"
    names = [normalise(row.split("==")[0]) for row in pins.read_text().splitlines() if "==" in row]
    base = into / f"base-{line}.txt"
    base.write_text("".join(f"{name}=={pinned[name]}\n" for name in names if name in pinned))
    return base


def fresh_airflow(venv: Path, base: Path, constraints: Path) -> Path:
    """A new virtualenv (with pip, the installer MWAA runs) holding the line's preinstalled packages.

    Installed with uv from its cache when it holds everything (seconds), from the index otherwise.
    """
    run([uv(), "venv", "--quiet", "--seed", "--python", sys.executable, venv], check=True, env=clean_env())
    python = venv / "bin" / "python"
    command = [uv(), "pip", "install", "--quiet", "--python", python, "-r", base, "-c", constraints]
    if run([*command, "--offline"], env=clean_env()).returncode != 0:
        result = run(command, env=clean_env())
        assert result.returncode == 0, result.stderr
    return python


def airflow_env(home: Path, dags: Path | None = None) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = clean_env(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
    )
    if dags is not None:
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    return env


def migrated_database(python: Path, line: str, home: Path, env: dict[str, str]) -> None:
    """The metadata database the CLI needs: a copy of the line's own when it is migrated for this
    Airflow version (the fresh environment has the line's versions), else ``airflow db migrate``."""
    version = run([python, "-c", "import airflow; print(airflow.__version__)"], check=True).stdout.strip()
    line_home = REPO / ".airflow" / line
    if (line_home / f".migrated-{version}").exists():
        # SQLite's backup API, not a file copy: make test runs that line's tests at the same time, and
        # a copy taken while they write could be torn.
        import sqlite3

        with contextlib.closing(sqlite3.connect(line_home / "airflow.db")) as source:
            with contextlib.closing(sqlite3.connect(home / "airflow.db")) as copy:
                source.backup(copy)
        return
    migrate = run([python.parent / "airflow", "db", "migrate"], env=env)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr


def copy_example_dags(into: Path) -> Path:
    dags = into / "dags"
    shutil.copytree(REPO / "examples" / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    return dags
