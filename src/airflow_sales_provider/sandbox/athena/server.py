"""The sandbox's AWS endpoint with the Athena engine: moto's server app behind a small WSGI router.

``python -m airflow_sales_provider.sandbox.athena.server -H 127.0.0.1 -p PORT`` serves moto exactly as
``python -m moto.server`` does (plus :mod:`~airflow_sales_provider.sandbox.slow_objects`' slow downloads
for fault tests), except that the query half of Athena's API (``AmazonAthena.*`` targets
listed in :data:`AthenaApi.HANDLED`) is answered by the engine. The engine runs in this process; it
reads Glue, S3 and workgroups through this same endpoint with boto3, as any AWS client would.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_sales_provider.sandbox.athena.api import AthenaApi, AthenaApiError
from airflow_sales_provider.sandbox.athena.catalog import Catalog

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from airflow_sales_provider.sandbox.slow_objects import SlowObjects

log = logging.getLogger("airflow_sales_provider.sandbox.athena")
_REGION_IN_AUTH = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
ACCESS_KEY = "testing"


class AthenaRouter:
    """WSGI middleware: Athena query calls to the engine, moto-api calls that concern Athena mirrored
    into it (reset, canned results, manual state progression), everything else to moto unchanged."""

    def __init__(self, app: Callable[..., Any], api: AthenaApi) -> None:
        self.app = app
        self.api = api

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET") or ""
        path = environ.get("PATH_INFO") or ""
        if target.startswith("AmazonAthena.") and target.split(".", 1)[1] in AthenaApi.HANDLED:
            return self._athena(target.split(".", 1)[1], environ, start_response)
        if path.startswith("/moto-api/") and environ.get("REQUEST_METHOD") == "POST":
            body = _read_body(environ)
            environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
            if path == "/moto-api/reset":
                self.api.reset()
            elif path == "/moto-api/static/athena/query-results":
                self.api.queue_canned_results(json.loads(body or b"{}").get("results") or [])
                return _respond(start_response, 201, b"")
            elif path in (
                "/moto-api/state-manager/set-transition",
                "/moto-api/state-manager/unset-transition",
            ):
                payload = json.loads(body or b"{}")
                if payload.get("model_name") == "athena::execution":
                    transition = payload.get("transition") or {}
                    manual = path.endswith("/set-transition") and transition.get("progression") == "manual"
                    self.api.set_polls_per_state(int(transition.get("times", 1)) if manual else None)
        return self.app(environ, start_response)

    def _athena(
        self, operation: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        region = _region(environ)
        try:
            try:
                body = json.loads(_read_body(environ) or b"{}")
            except ValueError as exc:
                raise AthenaApiError(
                    "SerializationException", f"the request body is not JSON: {exc}"
                ) from None
            payload = self.api.handle(operation, body, region)
            status = 200
        except AthenaApiError as exc:
            payload, status = {"__type": exc.code, "message": str(exc), "Message": str(exc)}, 400
        except Exception as exc:  # never let one request take the endpoint down
            log.exception("Athena %s failed", operation)
            payload, status = (
                {"__type": "InternalServerException", "message": f"{type(exc).__name__}: {exc}"},
                500,
            )
        return _respond(
            start_response, status, json.dumps(payload, default=str).encode(), "application/x-amz-json-1.1"
        )


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _respond(
    start_response: Callable[..., Any], status: int, body: bytes, content_type: str = "text/plain"
) -> list[bytes]:
    reason = {200: "OK", 201: "Created", 400: "Bad Request", 500: "Internal Server Error"}[status]
    start_response(
        f"{status} {reason}",
        [("Content-Type", content_type), ("Content-Length", str(len(body))), ("x-amzn-RequestId", "sandbox")],
    )
    return [body]


def _region(environ: dict[str, Any]) -> str:
    match = _REGION_IN_AUTH.search(environ.get("HTTP_AUTHORIZATION") or "")
    return match.group(1) if match else "us-east-1"


class Clients:
    """boto3 clients on this server's own endpoint, one per (service, region), shared by all queries."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str, region: str) -> Any:
        with self._lock:
            client = self._clients.get((service, region))
            if client is None:
                import boto3
                from botocore.config import Config

                client = boto3.session.Session().client(
                    service,
                    endpoint_url=self.endpoint_url,
                    region_name=region,
                    aws_access_key_id=ACCESS_KEY,
                    aws_secret_access_key=ACCESS_KEY,
                    config=Config(max_pool_connections=32, retries={"max_attempts": 2, "mode": "standard"}),
                )
                self._clients[(service, region)] = client
            return client


def _warm_up(clients: Clients) -> None:
    """Import the engine's libraries and build its clients while the server starts, not in the first query."""
    import duckdb
    import sqlglot

    sqlglot.parse_one("SELECT 1", read="trino")
    duckdb.connect(":memory:").close()
    for service in ("s3", "glue", "athena"):
        clients(service, "us-east-1")


def build_app(endpoint_url: str, scratch: Path) -> SlowObjects:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from airflow_sales_provider.sandbox.slow_objects import SlowObjects

    clients = Clients(endpoint_url)
    threading.Thread(target=_warm_up, args=(clients,), name="athena-warm-up", daemon=True).start()
    api = AthenaApi(clients, lambda region: Catalog(lambda service: clients(service, region)), scratch)
    moto_app = DomainDispatcherApplication(create_backend_app)
    return SlowObjects(AthenaRouter(moto_app, api))


def main(argv: list[str] | None = None) -> None:
    import os

    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(prog="python -m airflow_sales_provider.sandbox.athena.server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument("--scratch", default=None, help="folder for the objects a query reads (temporary)")
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="athena-engine-"))
    scratch.mkdir(parents=True, exist_ok=True)
    from airflow_sales_provider.sandbox.moto_jobs import install_job_outcomes

    install_job_outcomes()
    app = build_app(f"http://{args.host}:{args.port}", scratch)
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
