"""What importing this provider costs a DAG file: wall time and peak memory of a fresh interpreter.

Each case runs in a new process, several times, interleaved so machine noise hits every case alike:

- baseline: ``import airflow.sdk`` (Airflow 3) / ``import airflow`` (Airflow 2), the issue's baseline;
- dag floor: the baseline plus ``DAG``, ``BaseOperator``, ``BaseSensorOperator`` and ``BaseNotifier``,
  which any DAG file that uses an operator pays (on Airflow 2 ``import airflow`` alone loads none of them);
- ours: the dag floor plus every public class in ``operators``, ``sensors`` and ``notifications``;
- official: the dag floor plus the amazon / common.sql operators we replace (for reference).

Prints medians and ratios to the baseline and to the dag floor. Goal: ours <= 1.03x wall and <= 3 MiB
extra over the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

BASELINE = """
try:
    import airflow.sdk
except ImportError:
    import airflow
"""

DAG_FLOOR = """
try:
    from airflow.sdk import DAG, BaseNotifier, BaseOperator, BaseSensorOperator
except ImportError:
    from airflow import DAG
    from airflow.models.baseoperator import BaseOperator
    from airflow.notifications.basenotifier import BaseNotifier
    from airflow.sensors.base import BaseSensorOperator
"""

OURS = """
import importlib, inspect, pkgutil
import airflow_sales_provider
names = []
for package in ("operators", "sensors", "notifications"):
    pkg = importlib.import_module(f"airflow_sales_provider.{package}")
    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        names += [n for n, v in vars(module).items()
                  if inspect.isclass(v) and v.__module__ == module.__name__]
"""

OFFICIAL = """
from airflow.providers.amazon.aws.transfers.s3_to_redshift import S3ToRedshiftOperator
from airflow.providers.amazon.aws.operators.athena import AthenaOperator
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator, SQLTableCheckOperator
try:
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
except ImportError:
    pass  # the slack provider is not installed here: its cost is not counted
"""

# VmHWM is this process's own peak RSS; ru_maxrss can carry the parent's over fork + exec.
PROBE = """
import sys
{body}
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
"""


def run_once(body: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a fresh interpreter running ``body``."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body)], capture_output=True, text=True, check=True, env=env
    )
    wall = time.perf_counter() - start
    peak_kib = int(result.stdout.strip().splitlines()[-1])
    return wall, peak_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="3 runs")
    parser.add_argument("--json", action="store_true", help="print one JSON line too")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs

    # A throw-away Airflow home: never read (or write) the user's ~/airflow/airflow.cfg.
    env = {**os.environ, "AIRFLOW_HOME": tempfile.mkdtemp(prefix="import-cost-")}
    cases = {
        "baseline": BASELINE,
        "dag floor": BASELINE + DAG_FLOOR,
        "ours": BASELINE + DAG_FLOOR + OURS,
        "official": BASELINE + DAG_FLOOR + OFFICIAL,
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for body in cases.values():  # warm the page cache and .pyc files before timing
        run_once(body, env)
    for _ in range(runs):
        for name, body in cases.items():
            samples[name].append(run_once(body, env))

    import airflow

    medians = {
        name: (statistics.median(w for w, _ in s), statistics.median(m for _, m in s))
        for name, s in samples.items()
    }
    base_wall, base_mem = medians["baseline"]
    floor_wall, floor_mem = medians["dag floor"]
    print(
        f"import_cost: Airflow {airflow.__version__}, Python {sys.version.split()[0]}, {runs} runs, medians"
    )
    for name, (wall, mem) in medians.items():
        print(
            f"import_cost: {name:<9} wall {wall * 1000:7.1f} ms ({wall / base_wall:5.3f}x baseline, "
            f"{wall / floor_wall:5.3f}x dag floor)  peak RSS {mem:6.1f} MiB "
            f"(+{mem - base_mem:5.1f} MiB baseline, +{mem - floor_mem:5.1f} MiB dag floor)"
        )
    ours_wall, ours_mem = medians["ours"]
    for label, (ref_wall, ref_mem) in (
        ("baseline", (base_wall, base_mem)),
        ("dag floor", (floor_wall, floor_mem)),
    ):
        met = ours_wall / ref_wall <= 1.03 and ours_mem - ref_mem <= 3
        print(
            f"import_cost: goal <= 1.03x wall and <= 3 MiB extra over the {label}: "
            f"{'met' if met else 'NOT met'} ({ours_wall / ref_wall:.3f}x, +{ours_mem - ref_mem:.1f} MiB)"
        )
    if args.json:
        print(json.dumps({k: {"wall_s": w, "peak_mib": m} for k, (w, m) in medians.items()}))


if __name__ == "__main__":
    main()
