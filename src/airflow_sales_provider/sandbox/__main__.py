"""``python -m airflow_sales_provider.sandbox up``: run a sandbox and print its connection variables."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading

from airflow_sales_provider.sandbox import Sandbox, SandboxError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_sales_provider.sandbox")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the sandbox, print `export ...` lines, run until Ctrl-C")
    up.add_argument("--no-aws", action="store_true", help="do not start the moto server")
    up.add_argument("--no-postgres", action="store_true", help="do not start the warehouse PostgreSQL")
    up.add_argument("--no-slack", action="store_true", help="do not start the Slack receiver")
    up.add_argument(
        "--no-athena-engine", action="store_true", help="leave Athena to moto (canned rows, no queries run)"
    )
    up.add_argument("--no-databricks", action="store_true", help="do not start the Databricks stand-in")
    args = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C stops it even when started from a shell that ignores SIGINT (a background job, CI).
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        sandbox = Sandbox(
            aws=not args.no_aws,
            postgres=not args.no_postgres,
            slack=not args.no_slack,
            athena_engine=not args.no_athena_engine,
            databricks=not args.no_databricks,
        ).start()
    except SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        for key, value in sorted(sandbox.env.items()):
            print(f"export {key}={shlex.quote(value)}")
        print("# sandbox is up; press Ctrl-C to stop", file=sys.stderr, flush=True)
        sys.stdout.flush()
        stop.wait()
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
