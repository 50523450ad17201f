"""A Slack incoming-webhook stand-in: records every POST, and can be told to fail for fault tests."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from airflow_sales_provider.sandbox._process import LOOPBACK


@dataclass(frozen=True)
class Reply:
    """One scripted answer: ``status`` with an optional ``Retry-After``; ``hang`` seconds before answering."""

    status: int = 200
    retry_after: float | None = None
    hang: float = 0.0
    body: str = "ok"


@dataclass
class ReceivedPost:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    received_at: float = field(default_factory=time.time)
    #: The reply was held back (``Reply(hang=...)``): the client most likely gave up waiting for it.
    hung: bool = False

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class SlackReceiver:
    """``ThreadingHTTPServer`` on a free loopback port.

    Every POST is recorded in :attr:`posts` (also the ones answered with an error). Replies come from a
    queue set with :meth:`respond_with`; when it is empty the receiver answers ``default`` (200 "ok").
    """

    def __init__(self) -> None:
        self.token = f"T0SANDBOX/B0SANDBOX/{secrets.token_hex(12)}"
        self.posts: list[ReceivedPost] = []
        self.default = Reply()
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                reply = receiver._next_reply()
                # Recorded on arrival: a post whose reply hangs belongs to the test that sent it, not
                # to whichever test is running when the hang ends (clear() drops it from the list).
                post = ReceivedPost(self.path, dict(self.headers), body, reply.status, hung=reply.hang > 0)
                with receiver._lock:
                    receiver.posts.append(post)
                if reply.hang:
                    receiver._stopping.wait(reply.hang)
                payload = reply.body.encode()
                try:
                    self.send_response(reply.status)
                    if reply.retry_after is not None:
                        self.send_header("Retry-After", f"{reply.retry_after:g}")
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up waiting (hang tests)
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # the webhook path holds the token: keep it out of stderr

        self._stopping.clear()
        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-receiver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
        self._server = None
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        assert self._server is not None, "Slack receiver is not running"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/services/{self.token}"

    # -- scripting -------------------------------------------------------------------------------------
    def respond_with(self, *replies: Reply | int) -> None:
        """Queue replies for the next POSTs, e.g. ``respond_with(Reply(429, retry_after=1), 200)``."""
        with self._lock:
            self._replies.extend(r if isinstance(r, Reply) else Reply(status=r) for r in replies)

    def clear(self) -> None:
        """Forget recorded posts and queued replies; answer 200 again."""
        with self._lock:
            self.posts.clear()
            self._replies.clear()
            self.default = Reply()

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._replies.popleft() if self._replies else self.default

    @property
    def messages(self) -> list[Any]:
        """JSON bodies of the posts answered 2xx at once (what Slack would have shown)."""
        with self._lock:
            return [p.json for p in self.posts if not p.hung and 200 <= p.status < 300]

    def connection_env(self) -> dict[str, str]:
        conn = {"conn_type": "sales_slack_webhook", "password": self.webhook_url}
        return {"AIRFLOW_CONN_SLACK_WEBHOOK_DEFAULT": json.dumps(conn)}
