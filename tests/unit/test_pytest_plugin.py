"""The sandbox pytest plugin is loaded wherever the provider is installed: it must cost nothing there.

Each case runs pytest in a fresh interpreter, in a folder outside this repository (so this suite's
conftest is not loaded), with the ``sandbox`` extra's packages made unimportable, as in an environment
that installed the provider without the extra.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# Makes the sandbox extra's packages unimportable, then runs pytest with the arguments given.
RUNNER = textwrap.dedent(
    """
    import sys

    class WithoutSandboxExtra:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in ("moto", "pgserver"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, WithoutSandboxExtra())
    import pytest

    sys.exit(pytest.main(sys.argv[1:]))
    """
)

UNRELATED = textwrap.dedent(
    """
    import sys

    def test_arithmetic():
        assert sum([1, 2, 3]) == 6

    def test_the_plugin_is_loaded_and_imported_nothing(pytestconfig):
        assert pytestconfig.pluginmanager.has_plugin("airflow_sales_sandbox")
        loaded = sorted(m for m in sys.modules if m.partition(".")[0] in ("moto", "pgserver", "airflow"))
        assert loaded == []
        assert "airflow_sales_provider.sandbox.core" not in sys.modules

    def sandbox():  # a project's own name, unrelated to the plugin's fixtures
        return "mine"
    """
)

NEEDS_SANDBOX = textwrap.dedent(
    """
    def test_uses_the_sandbox(sales_sandbox):
        pass
    """
)


def run_pytest(tmp_path: Path, name: str, body: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / name).write_text(body)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    return subprocess.run(
        [sys.executable, "-c", RUNNER, "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_unrelated_test_file_runs_cleanly_without_the_extra(tmp_path):
    result = run_pytest(tmp_path, "test_unrelated.py", UNRELATED)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_asking_for_the_sandbox_without_the_extra_says_what_to_install(tmp_path):
    result = run_pytest(tmp_path, "test_needs_sandbox.py", NEEDS_SANDBOX)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "missing: moto, pgserver" in result.stdout
    assert 'pip install "airflow-sales-provider[sandbox]"' in result.stdout
