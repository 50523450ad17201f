"""Airflow Variables served by a real secrets backend: the amazon provider's Secrets Manager backend on moto.

As on MWAA with ``secrets.backend`` set to ``SecretsManagerBackend``, a DAG reads ``{{ var.json.x }}``
and Airflow fetches the secret ``airflow/variables/x`` from Secrets Manager — here the sandbox's moto
server. The same DAG runs in dev, qa and prod; only the secrets' content differs::

    with Sandbox() as sandbox, sandbox.environment():
        put_variable(sandbox, "sales_pipeline", {"env": "dev", ...})
        os.environ.update(secrets_backend_env(sandbox))  # before Airflow reads its configuration
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_sales_provider.sandbox.core import Sandbox

SECRETS_BACKEND = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
VARIABLES_PREFIX = "airflow/variables"


def secrets_backend_env(sandbox: Sandbox) -> dict[str, str]:
    """``AIRFLOW__SECRETS__*`` variables that make Airflow read Variables from the sandbox's Secrets Manager.

    Connections and configuration are not looked up there (their prefixes are off), so each connection
    lookup does not pay a round trip first; the sandbox serves those through ``AIRFLOW_CONN_*``.
    """
    kwargs = {
        "variables_prefix": VARIABLES_PREFIX,
        "connections_prefix": None,
        "config_prefix": None,
        "endpoint_url": sandbox.aws_endpoint_url,
        "region_name": "us-east-1",
    }
    return {
        "AIRFLOW__SECRETS__BACKEND": SECRETS_BACKEND,
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(kwargs),
    }


def put_variable(sandbox: Sandbox, key: str, value: Any) -> str:
    """Store an Airflow Variable as the secret ``airflow/variables/<key>`` (JSON unless ``value`` is text).

    Returns the secret's name. Writing again replaces the value.
    """
    name = f"{VARIABLES_PREFIX}/{key}"
    text = value if isinstance(value, str) else json.dumps(value)
    client = sandbox.boto3_client("secretsmanager")
    try:
        client.create_secret(Name=name, SecretString=text)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=text)
    return name
