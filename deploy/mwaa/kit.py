"""The MWAA deployment kit's build steps: rendered requirements files and plugins.zip.

    python deploy/mwaa/kit.py requirements DIST [--mwaa-version V] [--constraint C]
    python deploy/mwaa/kit.py plugins-zip DIST --mwaa-version V [--constraints F] [--base F]

``requirements`` fills ``deploy/mwaa/requirements/*.txt`` with the provider version (taken from the wheel
in DIST, which hatchling took from ``airflow_sales_provider.__version__``) and each supported MWAA
version's Airflow and Python versions (``deploy/mwaa/pins/<version>.txt``), into
``DIST/mwaa/<version>/requirements-<variant>.txt``.

``plugins-zip`` builds ``DIST/mwaa/<version>/plugins.zip`` for an environment without internet access:
the provider's wheel, the wheels of every dependency the environment does not already have (the
provider's dependency closure under the constraints, less the closure of what MWAA installs, i.e. the
pins), and the constraints file itself, which the plugins variant of requirements.txt names.
Run by the Makefile with the release virtualenv's Python (it has pip); needs uv (``$UV``, or
``.venv/tools/bin/uv``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KIT = REPO / "deploy" / "mwaa"
TEMPLATES = {
    "private-index": KIT / "requirements" / "private-index.txt",
    "plugins": KIT / "requirements" / "plugins.txt",
}
MWAA_PLUGINS = "/usr/local/airflow/plugins"
PACKAGE = "airflow-sales-provider"
# MWAA runs Amazon Linux 2023 (glibc 2.34) on x86_64. pip does not widen a --platform it is given to the
# older manylinux tags that platform also runs, so every one is named.
MWAA_PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(34, 4, -1)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64",
]  # fmt: skip


def platform_options() -> list[str]:
    return [option for platform in MWAA_PLATFORMS for option in ("--platform", platform)]


def header(pins: Path, key: str) -> str:
    match = re.search(rf"^# {key}: (\S+)", pins.read_text(), re.MULTILINE)
    if not match:
        raise SystemExit(f"{pins}: no '# {key}:' header line")
    return match.group(1)


def pinned(requirements: Path) -> dict[str, str]:
    """``name==version`` lines of a pins or constraints file, by normalised name."""
    found = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[normalise(name.split("[", 1)[0])] = version.strip()
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def supported_versions() -> list[str]:
    pins = sorted((KIT / "pins").glob("*.txt"))
    return [p.stem for p in pins if header(p, "supported") == "yes"]


def wheel_in(dist: Path) -> Path:
    wheels = sorted(dist.glob("airflow_sales_provider-*-py3-none-any.whl"))
    if len(wheels) != 1:
        raise SystemExit(
            f"{dist}: expected one airflow_sales_provider wheel, found {len(wheels)} (run make dist)"
        )
    return wheels[0]


def wheel_version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def render(
    variant: str,
    mwaa_version: str,
    version: str,
    constraint: str | None = None,
    python_version: str | None = None,
) -> str:
    pins = KIT / "pins" / f"{mwaa_version}.txt"
    text = TEMPLATES[variant].read_text()
    for token, value in {
        "@MWAA_VERSION@": mwaa_version,
        "@AIRFLOW_VERSION@": pinned(pins)["apache-airflow"],
        "@PYTHON_VERSION@": python_version or header(pins, "python_version"),
        "@VERSION@": version,
    }.items():
        text = text.replace(token, value)
    if constraint is not None:  # a local constraints file in place of the published one (tests)
        text = re.sub(r'^--constraint ".*"$', f'--constraint "{constraint}"', text, flags=re.MULTILINE)
    return text


def write_requirements(dist: Path, mwaa_versions: list[str], constraint: str | None) -> list[Path]:
    version = wheel_version(wheel_in(dist))
    written = []
    for mwaa_version in mwaa_versions:
        out = dist / "mwaa" / mwaa_version
        out.mkdir(parents=True, exist_ok=True)
        for variant in TEMPLATES:
            target = out / f"requirements-{variant}.txt"
            target.write_text(render(variant, mwaa_version, version, constraint))
            written.append(target)
    return written


def uv() -> str:
    return os.environ.get("UV") or shutil.which("uv") or str(REPO / ".venv" / "tools" / "bin" / "uv")


def closure(requirements: list[str], constraints: Path, python_version: str) -> dict[str, str]:
    """Every package (name → version) the requirements resolve to under the constraints."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "requirements.in"
        spec.write_text("\n".join(requirements) + "\n")
        command = [
            uv(),
            "pip",
            "compile",
            "--quiet",
            "--no-header",
            "--no-annotate",
            "--python-version",
            python_version,
            "--constraint",
            str(constraints),
            str(spec),
        ]
        result = subprocess.run([*command, "--offline"], capture_output=True, text=True)
        if result.returncode != 0:  # uv's cache lacks something: ask the index
            result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"cannot resolve {requirements} under {constraints}:\n{result.stderr}")
    found = {}
    for line in result.stdout.splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            found[normalise(name)] = version.strip()
        elif line.strip().endswith(".whl"):
            found[normalise(PACKAGE)] = "(wheel)"
    return found


def build_plugins_zip(
    dist: Path, mwaa_version: str, constraints: Path, base: Path, python_version: str
) -> Path:
    wheel = wheel_in(dist)
    installed = closure(
        [line for line in base.read_text().splitlines() if "==" in line and not line.startswith("#")],
        constraints,
        python_version,
    )
    needed = closure([str(wheel)], constraints, python_version)
    missing = sorted(name for name in needed if name not in installed and name != normalise(PACKAGE))
    out = dist / "mwaa" / mwaa_version
    out.mkdir(parents=True, exist_ok=True)
    python_minor = ".".join(python_version.split(".")[:2])  # resolution may name a patch release
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        shutil.copy(wheel, staging / wheel.name)
        shutil.copy(constraints, staging / f"constraints-{python_minor}.txt")
        if missing:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--only-binary",
                    ":all:",
                    "--python-version",
                    python_version,
                    "--platform",
                    "manylinux2014_x86_64",
                    "--dest",
                    str(staging),
                    *(f"{name}=={needed[name]}" for name in missing),
                ],
                check=True,
            )
        target = out / "plugins.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(staging.iterdir()):
                archive.write(path, path.name)  # at the zip's root: MWAA unpacks it into plugins/
    requirements = render("plugins", mwaa_version, wheel_version(wheel), python_version=python_minor)
    (out / "requirements-plugins.txt").write_text(requirements)
    print(
        f"{target}: {wheel.name}, constraints-{python_minor}.txt"
        + "".join(f", {name}=={needed[name]}" for name in missing)
    )
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    requirements = commands.add_parser("requirements", help="render deploy/mwaa/requirements into DIST/mwaa/")
    requirements.add_argument("dist", type=Path)
    requirements.add_argument("--mwaa-version", action="append", help="default: every supported version")
    requirements.add_argument(
        "--constraint", help="a constraints file or URL in place of Airflow's published one"
    )
    plugins = commands.add_parser("plugins-zip", help="build DIST/mwaa/<version>/plugins.zip")
    plugins.add_argument("dist", type=Path)
    plugins.add_argument("--mwaa-version", required=True)
    plugins.add_argument("--constraints", type=Path, help="default: deploy/mwaa/constraints/<version>.txt")
    plugins.add_argument("--base", type=Path, help="what the environment installs; default: its pins file")
    plugins.add_argument("--python-version", help="default: the pins file's python_version")
    args = parser.parse_args(argv)

    if args.command == "requirements":
        for path in write_requirements(args.dist, args.mwaa_version or supported_versions(), args.constraint):
            print(path)
    else:
        pins = KIT / "pins" / f"{args.mwaa_version}.txt"
        if not pins.exists():
            raise SystemExit(
                f"no pins for MWAA {args.mwaa_version}: {sorted(p.stem for p in pins.parent.glob('*.txt'))}"
            )
        build_plugins_zip(
            args.dist,
            args.mwaa_version,
            args.constraints or KIT / "constraints" / f"{args.mwaa_version}.txt",
            args.base or pins,
            args.python_version or header(pins, "python_version"),
        )


if __name__ == "__main__":
    main()
