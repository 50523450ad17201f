"""The built wheel resolves under the provider pins of every MWAA version we support, and fails to
resolve under those we do not (so a user of an unsupported version gets an install error, never an
import error at parse time).

``deploy/mwaa/pins/<version>.txt`` holds the versions AWS documents per MWAA environment; each file's
``# python_version:`` and ``# supported:`` header lines say which Python MWAA runs and whether we
claim that version. The resolver is uv (``uv pip compile``) against the package index this machine
reaches (from its cache when that suffices), under the pins as constraints and for MWAA's Python (3.12
resolves here even though no 3.12 interpreter exists: only metadata is read).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PINS = REPO / "deploy" / "mwaa" / "pins"
PIN_FILES = sorted(PINS.glob("*.txt"))


def _uv() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def _header(pins: Path, key: str) -> str:
    match = re.search(rf"^# {key}: (\S+)", pins.read_text(), re.MULTILINE)
    assert match, f"{pins.relative_to(REPO)} has no '# {key}:' header line"
    return match.group(1)


def _pinned(pins: Path) -> dict[str, str]:
    lines = [line.strip() for line in pins.read_text().splitlines()]
    return dict(line.split("==", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [_uv(), "build", "--wheel", "--quiet", "--out-dir", str(out), str(REPO)], check=True, timeout=300
    )
    (built,) = out.glob("airflow_sales_provider-*.whl")
    built.with_suffix(".in").write_text(f"{built}\n")  # the requirements file naming the wheel
    return built


def _compile(wheel: Path, pins: Path) -> subprocess.CompletedProcess[str]:
    """Resolve from uv's cache first (seconds); only what it lacks, or a failure, asks the index."""
    command = [
        _uv(),
        "pip",
        "compile",
        "--quiet",
        "--no-header",
        "--no-annotate",
        "--python-version",
        _header(pins, "python_version"),
        "--constraint",
        str(pins),
        str(wheel.with_suffix(".in")),
    ]
    cached = subprocess.run([*command, "--offline"], capture_output=True, text=True, timeout=300)
    if cached.returncode == 0:
        return cached
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_there_are_pins_for_the_mwaa_versions_the_docs_name():
    assert {p.stem for p in PIN_FILES} >= {"2.10.1", "2.10.3", "3.0.6"}
    for pins in PIN_FILES:
        assert _header(pins, "supported") in {"yes", "no"}
        assert "connections-packages.html" in pins.read_text(), f"{pins.name} does not cite AWS's page"


@pytest.mark.parametrize(
    "pins", [p for p in PIN_FILES if _header(p, "supported") == "yes"], ids=lambda p: f"mwaa-{p.stem}"
)
def test_wheel_resolves_under_a_supported_mwaa_versions_pins(wheel: Path, pins: Path):
    result = _compile(wheel, pins)
    assert result.returncode == 0, f"MWAA {pins.stem}: the wheel does not resolve:\n{result.stderr}"
    resolved = dict(line.split("==", 1) for line in result.stdout.splitlines() if "==" in line)
    for name, version in _pinned(pins).items():
        if name in resolved:  # the celery / http providers are pinned by MWAA, not needed by us
            assert resolved[name] == version, f"{name}: resolved {resolved[name]}, MWAA pins {version}"
    assert resolved["apache-airflow"] == _pinned(pins)["apache-airflow"]
    assert str(wheel) in result.stdout.splitlines()


@pytest.mark.parametrize(
    "pins", [p for p in PIN_FILES if _header(p, "supported") == "no"], ids=lambda p: f"mwaa-{p.stem}"
)
def test_wheel_refuses_an_unsupported_mwaa_version_at_install_time(wheel: Path, pins: Path):
    result = _compile(wheel, pins)
    assert result.returncode != 0, f"MWAA {pins.stem} is documented as unsupported but the wheel resolves"
    assert "apache-airflow-providers-" in result.stderr, result.stderr
