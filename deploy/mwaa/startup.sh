#!/bin/sh
# Amazon MWAA startup script: point pip at the private package index (AWS CodeArtifact) with a fresh
# token, so that requirements.txt (deploy/mwaa/requirements/private-index.txt) installs
# airflow-sales-provider from it. MWAA runs this script on every Airflow component before it installs
# requirements.txt; what it exports reaches pip. The token is never printed, logged or written to a file.
#
# Set the three names below (or export them before sourcing, e.g. in a test). The region comes from the
# environment MWAA sets. The IAM permissions it needs are in deploy/mwaa/iam/execution-role-policy.json
# (statement "PrivateIndex"); docs/mwaa.md walks through them.
set -eu

CODEARTIFACT_DOMAIN="${CODEARTIFACT_DOMAIN:-sales}"
CODEARTIFACT_DOMAIN_OWNER="${CODEARTIFACT_DOMAIN_OWNER:-111122223333}"
CODEARTIFACT_REPOSITORY="${CODEARTIFACT_REPOSITORY:-python}"
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
if [ -z "$region" ]; then
    echo "startup.sh: neither AWS_REGION nor AWS_DEFAULT_REGION is set" >&2
    exit 1
fi

# The endpoint, e.g. https://sales-111122223333.d.codeartifact.eu-west-1.amazonaws.com/pypi/python/
endpoint="$(aws codeartifact get-repository-endpoint \
    --domain "$CODEARTIFACT_DOMAIN" --domain-owner "$CODEARTIFACT_DOMAIN_OWNER" \
    --repository "$CODEARTIFACT_REPOSITORY" --format pypi --region "$region" \
    --query repositoryEndpoint --output text)"
token="$(aws codeartifact get-authorization-token \
    --domain "$CODEARTIFACT_DOMAIN" --domain-owner "$CODEARTIFACT_DOMAIN_OWNER" --region "$region" \
    --query authorizationToken --output text)"
if [ -z "$endpoint" ] || [ -z "$token" ]; then
    echo "startup.sh: CodeArtifact returned no endpoint or no token for domain $CODEARTIFACT_DOMAIN" >&2
    exit 1
fi

# The repository's PyPI upstream serves everything else, so the index replaces PyPI rather than being
# added beside it: no package name can be taken over from the public index.
PIP_INDEX_URL="https://aws:${token}@${endpoint#https://}simple/"
export PIP_INDEX_URL
unset token
echo "startup.sh: pip index set to ${endpoint}simple/ (token not shown)"
