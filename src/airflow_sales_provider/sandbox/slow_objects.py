"""Slow S3 downloads on demand, for fault tests: GETs of objects under a prefix stream at a set rate.

A load of a few small files is over in milliseconds; a test that must act while a load is inside its
``COPY`` (kill the worker running it, say) needs that ``COPY`` to last. Rather than big data, the test
makes the object stream slow, as a slow network would::

    sandbox.moto.set_slow_objects({"sales-raw/daily/": 200})  # bucket/key prefix -> bytes per second
    ...
    sandbox.moto.set_slow_objects({})  # full speed again (moto's reset clears it too)

Only object bodies are slowed (path-style ``GET /bucket/key``): listings, HEADs and every other
service answer at once.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

PATH = "/moto-api/sales/slow-objects"
#: pieces per second a slowed body is cut into (small enough that a COPY sees a steady trickle)
PIECES_PER_SECOND = 10


class SlowObjects:
    """WSGI middleware in front of the sandbox's AWS endpoint: ``POST {PATH}`` with
    ``{"rules": {"bucket/prefix": bytes_per_second}}`` sets the rules (``{}`` clears them)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self._rules: dict[str, float] = {}
        self._lock = threading.Lock()

    def rate_for(self, path: str) -> float | None:
        key_path = path.lstrip("/")
        with self._lock:
            for prefix, rate in self._rules.items():
                if key_path.startswith(prefix) and key_path != prefix.rstrip("/"):
                    return rate
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or ""
        method = environ.get("REQUEST_METHOD")
        if path == PATH and method == "POST":
            return self._set(environ, start_response)
        if path == "/moto-api/reset" and method == "POST":
            with self._lock:
                self._rules = {}
        if method == "GET" and self._rules and "/" in path.lstrip("/"):
            rate = self.rate_for(path)
            if rate is not None:
                return _trickle(self.app(environ, start_response), rate)
        return self.app(environ, start_response)

    def _set(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            rules = json.loads(environ["wsgi.input"].read(length) or b"{}").get("rules") or {}
            parsed = {str(prefix): float(rate) for prefix, rate in rules.items()}
            if any(rate <= 0 for rate in parsed.values()):
                raise ValueError("a rate must be a positive number of bytes per second")
        except (ValueError, AttributeError, TypeError) as exc:
            body = json.dumps({"error": f"expected {{'rules': {{prefix: bytes_per_second}}}}: {exc}"})
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [body.encode()]
        with self._lock:
            self._rules = parsed
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"rules": parsed}).encode()]


def _trickle(body: Iterable[bytes], rate: float) -> Iterator[bytes]:
    piece = max(1, int(rate / PIECES_PER_SECOND))
    try:
        for chunk in body:
            for start in range(0, len(chunk), piece):
                time.sleep(piece / rate)
                yield chunk[start : start + piece]
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
