"""Provider metadata, read by Airflow's ProvidersManager via the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

#: The Slack webhook connection form (one source: the hook's ``get_ui_field_behaviour`` reads it too).
SLACK_WEBHOOK_FORM: dict[str, Any] = {
    "hidden-fields": ["schema", "login", "port"],
    "relabeling": {
        "host": "Webhook host (for a bare token)",
        "password": "Webhook URL or token",
    },
    "placeholders": {
        "host": "https://hooks.slack.com/services/",
        "password": "https://hooks.slack.com/services/T000/B000/XXXX  or  T000/B000/XXXX",
        "extra": '{"timeout": 10, "max_delivery_time": 60}',
    },
}


def get_provider_info() -> dict[str, Any]:
    from airflow_sales_provider import __version__

    return {
        "package-name": "airflow-sales-provider",
        "name": "Sales warehouse",
        "description": (
            "Exactly-once S3 to Redshift/PostgreSQL loads, one-scan data-quality checks, "
            "cost-guarded Athena reports, S3 arrival sensing and Slack run summaries."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Sales warehouse",
                "external-doc-url": "https://pypi.org/project/airflow-sales-provider/",
                "tags": ["aws", "software"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_sales_provider.hooks.slack_webhook.SalesSlackWebhookHook",
                "connection-type": "sales_slack_webhook",
                # Airflow 3.2+ reads the form declaratively; Airflow 2 asks the hook's get_ui_field_behaviour,
                # which returns this same form.
                "ui-field-behaviour": SLACK_WEBHOOK_FORM,
            },
        ],
        "notifications": [
            "airflow_sales_provider.notifications.slack.SlackNotifier",
        ],
        "triggers": [
            {
                "integration-name": "Sales warehouse",
                "python-modules": [
                    "airflow_sales_provider.triggers.athena",
                    "airflow_sales_provider.triggers.s3_arrival",
                    "airflow_sales_provider.triggers.redshift_data",
                ],
            },
        ],
    }
