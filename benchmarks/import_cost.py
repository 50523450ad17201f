"""What importing this provider costs a DAG file: wall time, CPU time and peak memory of a fresh interpreter.

Each case runs in a new process, several times, interleaved so machine noise hits every case alike:

- baseline: ``import airflow.sdk`` (Airflow 3) / ``import airflow`` (Airflow 2), what every DAG file pays;
- ours: the baseline, then the provider's public classes a DAG file imports (:data:`PUBLIC_CLASSES`:
  ``RedshiftLoadOperator``, ``DataQualityOperator``, ``AthenaReportOperator``, ``SlackNotifier``,
  ``S3ArrivalSensor``);
- official: the baseline, then the amazon / common.sql / slack classes they replace (for reference).

Prints medians, the ratio of ours to the baseline (goal: <= 1.03x wall and <= +3 MiB peak RSS) and the
modules ours adds to the baseline. CPU time (user + system of the child) is printed beside wall time:
on a busy machine it is the steadier of the two. The children write and use bytecode caches, as an
installed provider (pip compiles it) and Airflow do; ``PYTHONDONTWRITEBYTECODE`` is dropped for them.

``tests/unit/test_import_weight.py`` runs :func:`modules_added` on every Airflow line: the guard that
fails when a module-level import creeps back.

    .venv/af3/bin/python benchmarks/import_cost.py            # 9 runs
    .venv/af3/bin/python benchmarks/import_cost.py --quick    # 3 runs
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

#: What every DAG file pays before it imports any operator.
BASELINE = """
try:
    import airflow.sdk
except ImportError:  # Airflow 2
    import airflow
"""

#: The provider's public classes a DAG file imports: what the goal is measured on.
PUBLIC_CLASSES = (
    "airflow_sales_provider.operators.redshift_load.RedshiftLoadOperator",
    "airflow_sales_provider.operators.data_quality.DataQualityOperator",
    "airflow_sales_provider.operators.athena_report.AthenaReportOperator",
    "airflow_sales_provider.notifications.slack.SlackNotifier",
    "airflow_sales_provider.sensors.s3_arrival.S3ArrivalSensor",
)

OFFICIAL_CLASSES = (
    "airflow.providers.amazon.aws.transfers.s3_to_redshift.S3ToRedshiftOperator",
    "airflow.providers.common.sql.operators.sql.SQLColumnCheckOperator",
    "airflow.providers.common.sql.operators.sql.SQLTableCheckOperator",
    "airflow.providers.amazon.aws.operators.athena.AthenaOperator",
    "airflow.providers.slack.notifications.slack_webhook.SlackWebhookNotifier",
    "airflow.providers.amazon.aws.sensors.s3.S3KeySensor",
)

#: The base classes our public classes derive from: a DAG file that uses any operator pays for them.
SDK_FLOOR = """
try:
    from airflow.sdk import DAG, BaseNotifier, BaseOperator, BaseSensorOperator
    # Airflow's secrets masker, which every task uses: 3.1's base classes load it themselves, 3.0's not
    from airflow.sdk.log import mask_secret
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.models.baseoperator import BaseOperator
    from airflow.notifications.basenotifier import BaseNotifier
    from airflow.sensors.base import BaseSensorOperator
try:  # as compat.py looks for it: in the task SDK from Airflow 3.1 (3.0.x's attempt loads airflow.sdk.log)
    from airflow.sdk import BaseHook
except ImportError:  # Airflow 2 and 3.0.x
    from airflow.hooks.base import BaseHook
"""


def import_lines(classes: tuple[str, ...], *, optional: bool = False) -> str:
    """``from module import Name`` for each dotted class path (``optional``: skip what is not installed)."""
    lines = []
    for path in classes:
        module, _, name = path.rpartition(".")
        line = f"from {module} import {name}"
        lines.append(f"try:\n    {line}\nexcept ImportError:\n    pass" if optional else line)
    return "\n".join(lines) + "\n"


OURS = import_lines(PUBLIC_CLASSES)
OFFICIAL = import_lines(OFFICIAL_CLASSES, optional=True)  # a provider not installed is not counted

# VmHWM is this process's own peak RSS; ru_maxrss can carry the parent's over fork + exec.
PROBE = """
import sys
{body}
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
"""

MODULES_PROBE = """
import json, sys
{before}
before = set(sys.modules)
{body}
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def child_env() -> dict[str, str]:
    """A throw-away Airflow home (never ~/airflow); bytecode caches on, as installed code has them."""
    env = {**os.environ, "AIRFLOW_HOME": tempfile.mkdtemp(prefix="import-cost-")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_once(body: str, env: dict[str, str]) -> tuple[float, float, float]:
    """Wall and CPU (user + system) seconds and peak RSS (MiB) of a fresh interpreter running ``body``."""
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body)], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the child has been waited for: counted
    if result.returncode:
        raise RuntimeError(f"the probe failed:\n{result.stderr}")
    cpu = (children.ru_utime - children_before.ru_utime) + (children.ru_stime - children_before.ru_stime)
    return wall, cpu, int(result.stdout.strip().splitlines()[-1]) / 1024


def modules_added(body: str, before: str = BASELINE, env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh interpreter loads for ``body`` after running ``before``."""
    result = subprocess.run(
        [sys.executable, "-c", MODULES_PROBE.format(before=before, body=body)],
        capture_output=True,
        text=True,
        check=True,
        env=env or child_env(),
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="3 runs")
    parser.add_argument("--json", action="store_true", help="print one JSON line too")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs

    env = child_env()
    cases = {"baseline": BASELINE, "ours": BASELINE + OURS, "official": BASELINE + OFFICIAL}
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cases}
    for body in cases.values():  # warm the page cache and write the .pyc files before timing
        run_once(body, env)
    for _ in range(runs):
        for name, body in cases.items():
            samples[name].append(run_once(body, env))

    import airflow

    medians = {
        name: tuple(statistics.median(sample[i] for sample in s) for i in range(3))
        for name, s in samples.items()
    }
    base_wall, base_cpu, base_mem = medians["baseline"]
    print(
        f"import_cost: Airflow {airflow.__version__}, Python {sys.version.split()[0]}, {runs} runs "
        "(fresh processes, alternating), medians"
    )
    for name, (wall, cpu, mem) in medians.items():
        print(
            f"import_cost: {name:<8} wall {wall * 1000:7.1f} ms ({wall / base_wall:5.3f}x)  "
            f"CPU {cpu * 1000:7.1f} ms ({cpu / base_cpu:5.3f}x)  "
            f"peak RSS {mem:6.1f} MiB (+{mem - base_mem:4.1f} MiB)"
        )
    ours_wall, ours_cpu, ours_mem = medians["ours"]
    met = ours_wall / base_wall <= 1.03 and ours_mem - base_mem <= 3
    print(
        f"import_cost: goal ours <= 1.03x wall and <= +3 MiB over the baseline: "
        f"{'met' if met else 'NOT met'} ({ours_wall / base_wall:.3f}x wall, {ours_cpu / base_cpu:.3f}x CPU, "
        f"+{ours_mem - base_mem:.1f} MiB)"
    )
    added = modules_added(OURS, env=env)
    foreign = sorted(m for m in added if not m.startswith("airflow_sales_provider"))
    print(
        f"import_cost: ours adds {len(added)} modules, {len(added) - len(foreign)} of the provider's; "
        f"others: {', '.join(foreign) or 'none'}"
    )
    if args.json:
        print(json.dumps({k: {"wall_s": w, "cpu_s": c, "peak_mib": m} for k, (w, c, m) in medians.items()}))


if __name__ == "__main__":
    main()
