"""Benchmark: N deferred sensors waiting in one triggerer process, ours against the amazon provider's.

- ``arrival``: N ``S3ArrivalSensor(deferrable=True)`` (each on its own empty prefix, ``min_files=1``,
  ``settle_seconds=0``) -> N ``S3ArrivalTrigger``;
- ``s3key`` (baseline): N ``S3KeySensor(deferrable=True)`` (each on one missing key under its own
  prefix) -> N ``S3KeyTrigger``.

For each side, a *worker* child runs every sensor's real ``execute()`` (one synchronous look, then
``TaskDeferred``) and hands the serialized triggers (class path + kwargs, as stored in the trigger
table) to a *triggerer* child: a plain asyncio process that rebuilds each trigger from its serialized
form and runs all ``run()`` generators concurrently, as Airflow's triggerer does (without its DB
loop). Both sides poll the sandbox's moto server every ``--poke-interval`` seconds. After a warm-up
(every trigger has polled), the parent measures the triggerer child for ``--window`` seconds: peak RSS
(``VmHWM``, whole life) and the RSS sampled in the window, and CPU seconds (user + system) spent in the
window. Then one file lands on every prefix and the parent times how long after the last file landed
every trigger has fired.

Goals (issue 16): <= 6 s of triggerer CPU per 60 s with 500 arrival triggers poking every 5 s, and all
500 fired within 10 s of the files landing. To keep the default run near two minutes, the baseline's
window is shorter (``--baseline-window``, 20 s); CPU is compared per 60 s of waiting.

Worker slots held while waiting are *measured*: the worker child counts ``execute()`` calls in progress
(incremented on entry, decremented on exit) and how many ended in ``TaskDeferred``; once every sensor has
deferred, no task process exists while the triggers wait, so the number of slots held is the number of
``execute()`` calls still running, 0. A non-deferrable ``poke``-mode sensor would hold one slot each.

    .venv/af3/bin/python benchmarks/triggerer_scale.py              # 500 + 500, 60 s window
    .venv/af3/bin/python benchmarks/triggerer_scale.py --quick      # 50 + 50, 10 s window
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BUCKET = "bench-arrivals"
GOAL_MIB = 300
GOAL_CPU_PER_MINUTE = 6.0  # seconds of triggerer CPU per 60 s of waiting, 500 triggers, poke 5 s
GOAL_FIRE_SECONDS = 10.0  # every trigger fired within this long after the last file landed


_MESSAGES: Any = None


def emit(**payload: Any) -> None:
    """One JSON line to the parent, through a file of our own (Airflow's logging shares stdout)."""
    global _MESSAGES
    if _MESSAGES is None:
        _MESSAGES = open(os.environ["TRIGGERER_SCALE_MESSAGES"], "a", buffering=1)  # noqa: SIM115
    _MESSAGES.write(json.dumps(payload) + "\n")


def prefix_of(i: int) -> str:
    return f"waiting/{i:04d}/"


# --- worker child: the sensors' execute() up to TaskDeferred -------------------------------------------


def worker(side: str, n: int, poke_interval: float, out: Path) -> None:
    from airflow_sales_provider.compat import TaskDeferred

    context: dict[str, Any] = {"run_id": "bench", "ti": None}
    in_progress = 0
    peak_in_progress = 0
    deferred = 0
    serialized: list[tuple[str, dict[str, Any]]] = []
    for i in range(n):
        sensor = make_sensor(side, i, poke_interval)
        in_progress += 1
        peak_in_progress = max(peak_in_progress, in_progress)
        try:
            sensor.execute(context)
        except TaskDeferred as exc:
            deferred += 1
            serialized.append(exc.trigger.serialize())
        finally:
            in_progress -= 1
    out.write_text(json.dumps(serialized))
    emit(deferred=deferred, slots_held_after_deferral=in_progress, peak_slots_during_execute=peak_in_progress)


def make_sensor(side: str, i: int, poke_interval: float) -> Any:
    if side == "arrival":
        from airflow_sales_provider.sensors.s3_arrival import S3ArrivalSensor

        return S3ArrivalSensor(
            task_id=f"wait_{i}",
            bucket=BUCKET,
            prefix=prefix_of(i),
            min_files=1,
            settle_seconds=0,
            poke_interval=poke_interval,
            timeout=24 * 3600,
            deferrable=True,
        )
    from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor

    return S3KeySensor(
        task_id=f"wait_{i}",
        bucket_name=BUCKET,
        bucket_key=prefix_of(i) + "ready.csv",
        poke_interval=poke_interval,
        timeout=24 * 3600,
        deferrable=True,
    )


# --- triggerer child: every trigger's run() in one event loop ------------------------------------------


def triggerer(serialized_path: Path, poke_interval: float) -> None:
    import importlib

    import psutil

    process = psutil.Process()
    # What any triggerer has loaded before the first trigger: Airflow, the provider's hooks, aiobotocore.
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook  # noqa: F401

    import airflow_sales_provider.triggers.s3_arrival  # noqa: F401

    emit(rss_after_imports_mib=process.memory_info().rss / 2**20)
    serialized = json.loads(serialized_path.read_text())

    def build(classpath: str, kwargs: dict[str, Any]) -> Any:
        module, _, name = classpath.rpartition(".")
        return getattr(importlib.import_module(module), name)(**kwargs)

    triggers = [build(classpath, kwargs) for classpath, kwargs in serialized]
    events: list[Any] = []

    async def consume(trigger: Any) -> None:
        async for event in trigger.run():
            events.append(event.payload)
            return

    async def main() -> None:
        tasks = [asyncio.create_task(consume(t)) for t in triggers]
        # Warm-up: every trigger has built its client and polled at least once.
        await asyncio.sleep(poke_interval * 2 + 2)
        emit(ready=True, running=sum(not t.done() for t in tasks), events=len(events))
        while True:
            await asyncio.sleep(1)
            emit(running=sum(not t.done() for t in tasks), events=len(events), statuses=_statuses(events))

    asyncio.run(main())


def _statuses(events: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for payload in events:
        status = str(payload.get("status")) if isinstance(payload, dict) else "?"
        counts[status] = counts.get(status, 0) + 1
    return counts


# --- parent -------------------------------------------------------------------------------------------


class Child:
    """A child process; its JSON messages arrive in a file the parent reads, its output goes to a log."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self._messages_path = log_path.with_suffix(".messages")
        self._messages_path.write_text("")
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, __file__, *args],
            env={**env, "TRIGGERER_SCALE_MESSAGES": str(self._messages_path)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def messages(self) -> list[dict[str, Any]]:
        lines = self._messages_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]

    def wait_for(self, key: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if key in message:
                    return message
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"child gave no {key!r} within {timeout:.0f}s (exit {self.process.poll()})")

    def last(self) -> dict[str, Any]:
        messages = self.messages
        return dict(messages[-1]) if messages else {}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(
    side: str, n: int, window: float, poke_interval: float, sandbox: Any, workdir: Path
) -> dict[str, Any]:
    import psutil

    env = {**os.environ, **sandbox.env, "PYTHONUNBUFFERED": "1"}
    s3 = sandbox.boto3_client("s3")
    serialized = workdir / f"{side}-triggers.json"
    worker_child = Child(
        ["--worker", side, "--n", str(n), "--poke-interval", str(poke_interval), "--out", str(serialized)],
        env,
        workdir / f"{side}-worker.log",
    )
    try:
        slots = worker_child.wait_for("deferred", timeout=120 + n * 2.0)  # generous: a busy machine
    finally:
        worker_child.stop()

    trig = Child(
        ["--triggerer", str(serialized), "--poke-interval", str(poke_interval)],
        env,
        workdir / f"{side}-triggerer.log",
    )
    try:
        imports = trig.wait_for("rss_after_imports_mib", timeout=120)
        ready = trig.wait_for("ready", timeout=120 + n * 0.5)
        proc = psutil.Process(trig.process.pid)
        cpu_start = sum(proc.cpu_times()[:2])
        rss_max = 0.0
        started = time.monotonic()
        while time.monotonic() - started < window:
            rss_max = max(rss_max, proc.memory_info().rss / 2**20)
            time.sleep(0.25)
        cpu_window = sum(proc.cpu_times()[:2]) - cpu_start
        elapsed = time.monotonic() - started
        waiting = trig.last()
        peak = vm_hwm_mib(trig.process.pid)
        # Then the files land: every waiting trigger should fire.
        first_landed = time.monotonic()
        for i in range(n):
            s3.put_object(Bucket=BUCKET, Key=prefix_of(i) + "ready.csv", Body=b"store,amount\n1,10\n")
        landed = time.monotonic()
        fire_deadline = landed + poke_interval * 3 + 30
        while time.monotonic() < fire_deadline and trig.last().get("events", 0) < n:
            time.sleep(0.2)
        fired = trig.last()
        fire_seconds = time.monotonic() - landed
        landing_seconds = landed - first_landed
    finally:
        trig.stop()
    for i in range(n):
        s3.delete_object(Bucket=BUCKET, Key=prefix_of(i) + "ready.csv")
    return {
        "side": side,
        "n": n,
        "deferred": slots["deferred"],
        "slots_held": slots["slots_held_after_deferral"],
        "rss_imports": imports["rss_after_imports_mib"],
        "running_at_ready": ready["running"],
        "running_in_window": waiting.get("running"),
        "events_in_window": waiting.get("events"),
        "peak_rss": peak,
        "window_rss_max": rss_max,
        "cpu_window": cpu_window,
        "window": elapsed,
        "fired": fired.get("events", 0),
        "fired_statuses": fired.get("statuses", {}),
        "fire_seconds": fire_seconds,
        "landing_seconds": landing_seconds,
        "cpu_per_minute": cpu_window * 60.0 / elapsed,
    }


def report(result: dict[str, Any]) -> None:
    label = "S3ArrivalTrigger" if result["side"] == "arrival" else "S3KeyTrigger (amazon)"
    print(
        f"{label:24s} n={result['n']}: deferred {result['deferred']}/{result['n']}, "
        f"worker slots held while waiting {result['slots_held']}; "
        f"waiting {result['running_in_window']} (events during window {result['events_in_window']})"
    )
    print(
        f"{'':24s} peak RSS {result['peak_rss']:.1f} MiB (imports only {result['rss_imports']:.1f} MiB, "
        f"max in window {result['window_rss_max']:.1f} MiB); CPU {result['cpu_window']:.2f} s "
        f"in a {result['window']:.0f} s window = {result['cpu_per_minute']:.2f} s per 60 s"
    )
    print(
        f"{'':24s} files landed over {result['landing_seconds']:.1f} s; "
        f"{result['fired']}/{result['n']} fired "
        f"{result['fired_statuses']} within {result['fire_seconds']:.1f} s of the last one landing"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="50 sensors per side, 10 s window")
    parser.add_argument("--n", type=int, default=None, help="sensors per side (default 500)")
    parser.add_argument(
        "--window", type=float, default=None, help="measurement window in seconds (default 60)"
    )
    parser.add_argument(
        "--baseline-window", type=float, default=None, help="the S3KeyTrigger side's window (default 20 s)"
    )
    parser.add_argument("--poke-interval", type=float, default=5.0, help="seconds between polls (default 5)")
    parser.add_argument("--worker", choices=["arrival", "s3key"], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--triggerer", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        worker(args.worker, args.n, args.poke_interval, args.out)
        return
    if args.triggerer:
        triggerer(args.triggerer, args.poke_interval)
        return

    n = args.n or (50 if args.quick else 500)
    window = args.window or (10.0 if args.quick else 60.0)
    baseline_window = args.baseline_window or min(window, 20.0)
    from airflow_sales_provider.sandbox import Sandbox

    print(
        f"triggerer_scale: {n} deferred sensors per side, poke interval {args.poke_interval:g} s, "
        f"{window:g} s window (S3KeyTrigger baseline: {baseline_window:g} s window; CPU compared per 60 s)"
    )
    with (
        tempfile.TemporaryDirectory(prefix="triggerer-scale-") as tmp,
        Sandbox(postgres=False, slack=False) as sandbox,
    ):
        workdir = Path(tmp)
        sandbox.boto3_client("s3").create_bucket(Bucket=BUCKET)
        baseline = measure("s3key", n, baseline_window, args.poke_interval, sandbox, workdir)
        report(baseline)
        ours = measure("arrival", n, window, args.poke_interval, sandbox, workdir)
        report(ours)
    per_trigger = (ours["peak_rss"] - ours["rss_imports"]) / n * 1024
    per_trigger_base = (baseline["peak_rss"] - baseline["rss_imports"]) / n * 1024
    print(
        f"ratio arrival/S3KeyTrigger: peak RSS {ours['peak_rss'] / baseline['peak_rss']:.2f}x, "
        f"CPU per 60 s {ours['cpu_per_minute'] / max(baseline['cpu_per_minute'], 1e-9):.2f}x, "
        f"RSS per waiting trigger {per_trigger:.0f} KiB vs {per_trigger_base:.0f} KiB"
    )
    met = ours["peak_rss"] < GOAL_MIB and ours["slots_held"] == 0
    print(
        f"goal memory (< {GOAL_MIB} MiB peak RSS for {n} waiting sensors, 0 worker slots): "
        f"{'met' if met else 'NOT met'} ({ours['peak_rss']:.1f} MiB, {ours['slots_held']} slots)"
    )
    cpu_goal = GOAL_CPU_PER_MINUTE * n / 500 * 5.0 / args.poke_interval
    met = ours["cpu_per_minute"] <= cpu_goal
    print(
        f"goal CPU (<= {cpu_goal:g} s per 60 s for {n} triggers, poke {args.poke_interval:g} s): "
        f"{'met' if met else 'NOT met'} ({ours['cpu_per_minute']:.2f} s; S3KeyTrigger "
        f"{baseline['cpu_per_minute']:.2f} s)"
    )
    met = ours["fired"] == n and ours["fire_seconds"] <= GOAL_FIRE_SECONDS
    print(
        f"goal firing (all {n} within {GOAL_FIRE_SECONDS:g} s of the files landing): "
        f"{'met' if met else 'NOT met'} ({ours['fired']}/{n} in {ours['fire_seconds']:.1f} s)"
    )


if __name__ == "__main__":
    main()
