"""Slack incoming-webhook hook with delivery that is bounded in time and never leaks the webhook secret."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_sales_provider.compat import AirflowException, BaseHook, mask_secret

if TYPE_CHECKING:
    from slack_sdk.webhook import WebhookClient

DEFAULT_WEBHOOK_HOST = "https://hooks.slack.com/services/"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_DELIVERY_TIME = 60.0
DEFAULT_BACKOFF_FACTOR = 0.5
DEFAULT_MAX_RETRIES = 8
# A bare token as Slack shows it: T<workspace>/B<hook>/<secret>.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+$")
# slack_sdk logs the full request URL (the secret) at DEBUG: its records go to this logger, kept quiet.
_TRANSPORT_LOGGER = "airflow_sales_provider.hooks.slack_webhook.transport"


class WebhookConfigError(AirflowException):
    """The connection does not hold a usable webhook URL or token (the message never contains it)."""


def resolve_webhook_url(secret: str | None, host: str | None = None) -> str:
    """The webhook URL from a connection's password (a full URL, or a bare ``T…/B…/…`` token) and host.

    :param secret: the password field: ``https://hooks.slack.com/services/T…/B…/…`` or ``T…/B…/…``
    :param host: where a bare token is joined to; default ``https://hooks.slack.com/services/``
        (a host without a path gets ``/services/``)
    :raises WebhookConfigError: when neither form is found
    """
    value = (secret or "").strip()
    if not value:
        raise WebhookConfigError(
            "The Slack webhook connection has no webhook URL or token: put the full incoming-webhook URL "
            "(or its T…/B…/… token) in the connection's password field."
        )
    if value.lower().startswith(("https://", "http://")):
        if not urlsplit(value).netloc:
            raise WebhookConfigError("The Slack webhook URL in the password field has no host.")
        return value
    token = value.strip("/")
    if not _TOKEN.match(token):
        raise WebhookConfigError(
            "The Slack webhook password is neither an http(s) URL nor a token shaped like T…/B…/… "
            f"({len(token)} characters, {token.count('/')} slashes)."
        )
    base = (host or "").strip() or DEFAULT_WEBHOOK_HOST
    if not base.lower().startswith(("https://", "http://")):
        base = "https://" + base
    parts = urlsplit(base)
    if not parts.netloc:
        raise WebhookConfigError(f"The Slack webhook host {base!r} is not a URL.")
    if parts.path in ("", "/"):
        base = base.rstrip("/") + "/services/"
    return base.rstrip("/") + "/" + token


def _secret_parts(url: str) -> list[str]:
    """The strings to hide: the URL, and its path after the host (the token)."""
    path = urlsplit(url).path.strip("/")
    token = path.split("services/", 1)[1] if "services/" in path else path
    return [s for s in (url, path, token) if s and len(s) >= 8]


class _RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact(text: str, secrets: list[str]) -> str:
    """Replace every secret (longest first) in ``text`` with ``***``."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class DeliveryResult:
    """How a send went. ``error`` is already redacted."""

    delivered: bool
    attempts: int
    status_code: int | None
    elapsed: float
    error: str | None = None


class SalesSlackWebhookHook(BaseHook):
    """Post messages to a Slack incoming webhook; retries are bounded in total time.

    HTTP 429 waits for ``Retry-After``; 5xx answers, timeouts and connection errors retry with exponential
    backoff and jitter (slack_sdk's ``BackoffRetryIntervalCalculator`` / ``RandomJitter``); other 4xx
    answers are final. Nothing is retried past ``max_delivery_time``. The webhook URL and its token are
    registered with the secrets masker and removed from every error text this hook produces.

    .. seealso:: ``docs/slack.md``

    :param slack_webhook_conn_id: connection of type ``sales_slack_webhook``; the password holds the
        webhook URL or its ``T…/B…/…`` token (joined to the host, default ``https://hooks.slack.com/services/``)
    :param timeout: seconds per HTTP attempt (default: extra ``timeout``, else 10)
    :param max_delivery_time: seconds for all attempts and waits together (default: extra
        ``max_delivery_time``, else 60)
    :param backoff_factor: first backoff interval in seconds; doubles per retry, with jitter
    :param max_retries: retries after the first attempt, at most
    """

    conn_name_attr = "slack_webhook_conn_id"
    default_conn_name = "slack_webhook_default"
    conn_type = "sales_slack_webhook"
    hook_name = "Slack incoming webhook (sales provider)"
    # Extras read by name; anything else in the connection's extra is ignored.
    EXTRA_FIELDS = ("timeout", "max_delivery_time", "proxy")

    def __init__(
        self,
        slack_webhook_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_delivery_time: float | None = None,
        backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
        max_retries: int = DEFAULT_MAX_RETRIES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.slack_webhook_conn_id = slack_webhook_conn_id
        self._timeout = timeout
        self._max_delivery_time = max_delivery_time
        self.backoff_factor = backoff_factor
        self.max_retries = max_retries
        self._secrets: list[str] = []

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from airflow_sales_provider.get_provider_info import SLACK_WEBHOOK_FORM as form

        return {
            "hidden_fields": list(form["hidden-fields"]),
            "relabeling": dict(form["relabeling"]),
            "placeholders": dict(form["placeholders"]),
        }

    @cached_property
    def extras(self) -> dict[str, Any]:
        """Allow-listed extras of the connection (see :attr:`EXTRA_FIELDS`)."""
        raw = self._connection.extra_dejson or {}
        return {name: raw[name] for name in self.EXTRA_FIELDS if raw.get(name) not in (None, "")}

    @cached_property
    def _connection(self) -> Any:
        return self.get_connection(self.slack_webhook_conn_id)

    @cached_property
    def webhook_url(self) -> str:
        """The resolved webhook URL, registered with the secrets masker before anything can log it."""
        conn = self._connection
        if conn.password:
            mask_secret(conn.password)
        url = resolve_webhook_url(conn.password, conn.host)
        self._secrets = _secret_parts(url)
        for secret in self._secrets:
            mask_secret(secret)
        return url

    @property
    def timeout(self) -> float:
        return _positive(self._timeout, self.extras.get("timeout"), DEFAULT_TIMEOUT, "timeout")

    @property
    def max_delivery_time(self) -> float:
        return _positive(
            self._max_delivery_time,
            self.extras.get("max_delivery_time"),
            DEFAULT_MAX_DELIVERY_TIME,
            "max_delivery_time",
        )

    def redact(self, text: str) -> str:
        """``text`` with the webhook URL and token replaced by ``***``."""
        return redact(text, self._secrets)

    def get_conn(self) -> WebhookClient:
        """A slack_sdk ``WebhookClient`` without its own retry handlers (this hook owns the retry policy)."""
        from slack_sdk.webhook import WebhookClient

        url = self.webhook_url
        transport_log = logging.getLogger(_TRANSPORT_LOGGER)
        transport_log.setLevel(logging.CRITICAL)  # its DEBUG/ERROR lines carry the URL; we log our own
        if not any(isinstance(f, _RedactingFilter) for f in transport_log.filters):
            transport_log.addFilter(_RedactingFilter(self._secrets))
        else:
            for log_filter in transport_log.filters:
                if isinstance(log_filter, _RedactingFilter):
                    log_filter.secrets = sorted({*log_filter.secrets, *self._secrets})
        proxy = self.extras.get("proxy")
        return WebhookClient(
            url,
            timeout=int(max(1, self.timeout)),
            proxy=str(proxy) if proxy else None,
            logger=transport_log,
            retry_handlers=[],
        )

    def send(self, payload: dict[str, Any]) -> DeliveryResult:
        """Post ``payload``; retry what is worth retrying until ``max_delivery_time`` is spent.

        Never raises for a delivery problem (it is in the result, redacted); a connection that cannot
        give a webhook URL raises :class:`WebhookConfigError`.
        """
        from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
        from slack_sdk.http_retry.jitter import RandomJitter

        client = self.get_conn()
        backoff = BackoffRetryIntervalCalculator(backoff_factor=self.backoff_factor, jitter=RandomJitter())
        started = time.monotonic()
        deadline = started + self.max_delivery_time
        per_attempt = self.timeout
        attempts, status, error = 0, None, None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                error = error or "no time left"
                break
            attempts += 1
            # WebhookClient hands its timeout to urlopen, which takes float seconds.
            client.timeout = max(0.05, min(per_attempt, remaining))  # type: ignore[assignment]
            retry_after: float | None = None
            try:
                response = client.send_dict(payload)
            except Exception as err:  # timeouts and connection errors: worth another try
                status, error = None, self.redact(f"{type(err).__name__}: {err}")
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return DeliveryResult(True, attempts, status, time.monotonic() - started)
                error = self.redact(f"HTTP {status}: {truncate_body(response.body)}")
                if status != 429 and status < 500:
                    break  # 400 invalid_payload, 403, 404 no_service...: retrying cannot help
                if status == 429:
                    retry_after = _retry_after(response.headers)
            if attempts > self.max_retries:
                break
            wait = retry_after if retry_after is not None else backoff.calculate_sleep_duration(attempts - 1)
            if time.monotonic() + wait >= deadline:
                self.log.info(
                    "Slack webhook: next try in %.1fs would pass the %.0fs delivery budget; giving up",
                    wait,
                    self.max_delivery_time,
                )
                break
            self.log.info("Slack webhook attempt %d failed (%s); retrying in %.1fs", attempts, error, wait)
            time.sleep(wait)
        return DeliveryResult(False, attempts, status, time.monotonic() - started, error)


def truncate_body(body: Any, limit: int = 200) -> str:
    text = str(body or "").strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds form); ``None`` when absent or unreadable."""
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == "retry-after":
            if isinstance(value, list):
                value = value[0] if value else None
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def _positive(explicit: float | None, extra: Any, default: float, name: str) -> float:
    value = explicit if explicit is not None else extra if extra is not None else default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise WebhookConfigError(f"Slack webhook {name} must be a number of seconds, got {value!r}") from None
    if number <= 0:
        raise WebhookConfigError(f"Slack webhook {name} must be positive, got {number}")
    return number
