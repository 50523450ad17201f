"""One error policy for every component (``docs/development.md``, "Errors").

- Configuration and spec mistakes (a bad parameter, identifier, check spec or connection type) raise a
  :class:`ConfigurationError`: an ``AirflowFailException``, so the task fails at once without using its
  retries, and still a ``ValueError`` (and the component's own error type) for code that catches those.
- Transient I/O (a dropped connection, throttling, a timeout) raises what the client raised, and Airflow
  retries the task.
- Data errors name the object and line (``LoadError``, a failed check) and fail the try.
"""

from __future__ import annotations

from airflow_sales_provider.compat import AirflowFailException
from airflow_sales_provider.sql.identifiers import InvalidIdentifierError
from airflow_sales_provider.sql.load import LoadConfigError


class ConfigurationError(AirflowFailException, ValueError):
    """The task is configured wrongly: retrying cannot help, so it fails at once."""


class LoadConfigurationError(ConfigurationError, LoadConfigError):
    """A loader option is invalid (also a :class:`~airflow_sales_provider.sql.load.LoadConfigError`)."""


class IdentifierConfigurationError(ConfigurationError, InvalidIdentifierError):
    """A table, schema or column name is invalid (also an ``InvalidIdentifierError``)."""


_FAILURES: tuple[tuple[type[ValueError], type[ConfigurationError]], ...] = (
    (LoadConfigError, LoadConfigurationError),
    (InvalidIdentifierError, IdentifierConfigurationError),
)


def fail_at_once(exc: ValueError) -> ConfigurationError:
    """``exc`` as a :class:`ConfigurationError` of the same kind and message (raise it ``from exc``)."""
    if isinstance(exc, ConfigurationError):
        return exc
    for kind, failure in _FAILURES:
        if isinstance(exc, kind):
            return failure(str(exc))
    return ConfigurationError(str(exc))
