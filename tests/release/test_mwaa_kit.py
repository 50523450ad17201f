"""Every file of the MWAA deployment kit (deploy/mwaa/), checked with the tools that exist offline.

- startup.sh: shellcheck, and its behaviour with the AWS CLI replaced by a stand-in on PATH that answers
  as CodeArtifact documents (moto has no CodeArtifact, and the machine no AWS account): it exports the
  index URL built from endpoint and token, and never prints the token.
- The execution-role policy: valid JSON, and it grants every AWS call startup.sh makes and every AWS
  call this provider's code made during the test session (recorded by tests/aws_calls.py).
- The Airflow configuration options: each is an option of that MWAA version's Airflow (checked in the
  Airflow line that runs it) and its values parse.
- The rendered requirements resolve with pip (``--dry-run --report``) against the private index, under
  each MWAA version's constraints, for MWAA's Python.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_sales_provider import __version__
from tests.aws_calls import RECORDED, SESSION
from tests.release.conftest import (
    MWAA_OF_LINE,
    PACKAGE,
    REPO,
    PrivateIndex,
    clean_env,
    normalise,
    release_lines,
    run,
)

KIT = REPO / "deploy" / "mwaa"
_spec = importlib.util.spec_from_file_location("mwaa_kit", KIT / "kit.py")
kit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kit)
STARTUP = KIT / "startup.sh"
POLICY = json.loads((KIT / "iam" / "execution-role-policy.json").read_text())
TOKEN = "eyJ2ZXIiOjEsImlzdSI6MTcwMDAwMDAwMH0.c2VjcmV0LXRva2Vu"  # the shape of a CodeArtifact token
ENDPOINT = "https://sales-111122223333.d.codeartifact.eu-west-1.amazonaws.com/pypi/python/"
LINE_OF_MWAA = {mwaa: line for line, mwaa in MWAA_OF_LINE.items()}

# IAM actions the S3 operations need (AWS: "Amazon S3 API operations and the permissions they require").
S3_ACTIONS = {
    "ListObjectsV2": ["s3:ListBucket"], "ListObjects": ["s3:ListBucket"], "HeadBucket": ["s3:ListBucket"],
    "HeadObject": ["s3:GetObject"], "GetObject": ["s3:GetObject"], "PutObject": ["s3:PutObject"],
    "CreateMultipartUpload": ["s3:PutObject"], "UploadPart": ["s3:PutObject"],
    "CompleteMultipartUpload": ["s3:PutObject"], "AbortMultipartUpload": ["s3:AbortMultipartUpload"],
    "CopyObject": ["s3:GetObject", "s3:PutObject"], "UploadPartCopy": ["s3:GetObject", "s3:PutObject"],
    "DeleteObject": ["s3:DeleteObject"], "DeleteObjects": ["s3:DeleteObject"],
    "GetBucketLocation": ["s3:GetBucketLocation"],
}  # fmt: skip
# What a call needs beyond its own action (AWS CodeArtifact docs): a token needs an STS bearer token,
# and pip reading the repository with it needs ReadFromRepository.
IMPLIED = {
    "codeartifact:GetAuthorizationToken": ["sts:GetServiceBearerToken", "codeartifact:ReadFromRepository"]
}


def _allowed(action: str) -> bool:
    """Granted by one of the policy's own statements: MWAA's base statements ("Mwaa…": its environment
    bucket, logs, queue) do not count, since they grant on MWAA's resources, not the pipeline's."""
    for statement in POLICY["Statement"]:
        if statement["Effect"] != "Allow" or statement["Sid"].startswith("Mwaa"):
            continue
        patterns = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in patterns):
            return True
    return False


def _actions_of_call(service: str, operation: str) -> list[str]:
    return S3_ACTIONS.get(operation, [f"s3:{operation}"]) if service == "s3" else [f"{service}:{operation}"]


def _startup_calls() -> list[str]:
    """``aws <service> <command>`` invocations in startup.sh, as IAM actions."""
    calls = re.findall(r"\baws ([a-z0-9-]+) ([a-z0-9-]+)", STARTUP.read_text())
    assert calls, "startup.sh makes no AWS CLI call"
    actions = [
        f"{service}:{''.join(part.title() for part in command.split('-'))}" for service, command in calls
    ]
    return actions + [implied for action in actions for implied in IMPLIED.get(action, [])]


class TestStartupScript:
    def test_shellcheck_passes(self, release_bin: Path):
        result = run([release_bin / "shellcheck", "--shell=sh", "--severity=style", STARTUP])
        assert result.returncode == 0, result.stdout + result.stderr

    @pytest.fixture
    def aws_cli(self, tmp_path: Path):
        """An ``aws`` on PATH that records its arguments and answers as CodeArtifact's CLI does."""
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        calls = tmp_path / "calls"
        aws = bin_dir / "aws"
        aws.write_text(
            textwrap.dedent(f"""\
                #!/bin/sh
                echo "$*" >> {calls}
                if [ -n "${{AWS_CLI_FAILS:-}}" ]; then
                    echo "An error occurred (AccessDeniedException)" >&2; exit 254
                fi
                case "$2" in
                    get-repository-endpoint) echo "{ENDPOINT}" ;;
                    get-authorization-token) echo "{TOKEN}" ;;
                    *) echo "unknown command $2" >&2; exit 2 ;;
                esac
                """)
        )
        aws.chmod(aws.stat().st_mode | stat.S_IXUSR)
        return bin_dir, calls

    def _source(self, aws_cli, tmp_path: Path, **env: str):
        bin_dir, _ = aws_cli
        exported = tmp_path / "exported"
        script = f'. "{STARTUP}" && printf %s "$PIP_INDEX_URL" > "{exported}"'
        base = clean_env(PATH=f"{bin_dir}:/usr/bin:/bin", AWS_REGION="eu-west-1")
        return run(["sh", "-c", script], env={**base, **env}), exported

    def test_exports_the_index_url_and_never_prints_the_token(self, aws_cli, tmp_path: Path):
        result, exported = self._source(aws_cli, tmp_path)
        assert result.returncode == 0, result.stderr
        assert exported.read_text() == (
            f"https://aws:{TOKEN}@sales-111122223333.d.codeartifact.eu-west-1.amazonaws.com/pypi/python/simple/"
        )
        assert TOKEN not in result.stdout + result.stderr
        assert "pypi/python/simple/ (token not shown)" in result.stdout
        calls = aws_cli[1].read_text().splitlines()
        assert [c.split()[:2] for c in calls] == [
            ["codeartifact", "get-repository-endpoint"],
            ["codeartifact", "get-authorization-token"],
        ]
        assert all("--region eu-west-1" in c and "--domain-owner 111122223333" in c for c in calls)

    def test_a_refused_token_stops_the_script(self, aws_cli, tmp_path: Path):
        result, exported = self._source(aws_cli, tmp_path, AWS_CLI_FAILS="1")
        assert result.returncode != 0
        assert not exported.exists()
        assert "AccessDeniedException" in result.stderr

    def test_no_region_is_a_clear_error(self, aws_cli, tmp_path: Path):
        bin_dir, _ = aws_cli
        env = {k: v for k, v in clean_env(PATH=f"{bin_dir}:/usr/bin:/bin").items() if "REGION" not in k}
        result = run(["sh", "-c", f'. "{STARTUP}"'], env=env)
        assert result.returncode != 0
        assert "neither AWS_REGION nor AWS_DEFAULT_REGION is set" in result.stderr


class TestExecutionRolePolicy:
    def test_is_an_iam_policy_without_wildcard_grants(self):
        assert POLICY["Version"] == "2012-10-17"
        sids = [s["Sid"] for s in POLICY["Statement"]]
        assert len(sids) == len(set(sids)), "statement ids repeat"
        for statement in POLICY["Statement"]:
            assert statement["Effect"] in {"Allow", "Deny"}
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert "*" not in actions and not [a for a in actions if a.endswith(":*")], statement["Sid"]
            assert "Resource" in statement or "NotResource" in statement

    def test_grants_every_call_startup_sh_makes(self):
        missing = [action for action in _startup_calls() if not _allowed(action)]
        assert missing == []

    @pytest.mark.after_aws_calls
    def test_grants_every_aws_call_our_code_made_in_this_session(self):
        if not RECORDED:
            if SESSION["aws_tests_ran"]:
                pytest.fail("tests that use the sandbox ran, yet no AWS call by our code was recorded")
            pytest.skip("no test in this session talked to AWS (run it with tests/integration, tests/system)")
        missing = sorted(
            {action for (service, operation) in RECORDED for action in _actions_of_call(service, operation)}
            - {action for (service, operation) in RECORDED for action in _actions_of_call(service, operation)
               if _allowed(action)}
        )  # fmt: skip
        assert missing == [], f"calls made {sorted(RECORDED)}; not granted by the policy: {missing}"


@pytest.mark.parametrize("mwaa", sorted(LINE_OF_MWAA), ids=lambda v: f"mwaa-{v}")
def test_airflow_configuration_options_exist_in_that_airflow(mwaa: str):
    options = json.loads((KIT / f"airflow-configuration-{mwaa}.json").read_text())
    assert all(isinstance(v, str) for v in options.values()), "MWAA takes every option's value as a string"
    kwargs = json.loads(options["secrets.backend_kwargs"])
    assert kwargs == {"connections_prefix": "airflow/connections", "variables_prefix": "airflow/variables"}
    line = LINE_OF_MWAA[mwaa]
    python = REPO / ".venv" / line / "bin" / "python"
    if line not in release_lines():
        pytest.skip(f"checked in the {line} environment, not among SALES_RELEASE_LINES")
    probe = textwrap.dedent("""\
        import importlib, json, sys
        from airflow.configuration import conf
        options = json.load(open(sys.argv[1]))
        described = conf.configuration_description
        sections = {s: set(d.get("options", {})) for s, d in described.items()}
        unknown = [k for k in options if k.split(".", 1)[1] not in sections.get(k.split(".", 1)[0], ())]
        module, _, name = options["secrets.backend"].rpartition(".")
        getattr(importlib.import_module(module), name)
        print(json.dumps(unknown))
        """)
    result = run([python, "-c", probe, KIT / f"airflow-configuration-{mwaa}.json"], env=clean_env())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [], f"not options of {line}'s Airflow"


@pytest.mark.parametrize("mwaa", sorted(LINE_OF_MWAA), ids=lambda v: f"mwaa-{v}")
def test_private_index_requirements_resolve_under_mwaa_constraints(
    mwaa: str, dist: Path, private_index: PrivateIndex, release_bin: Path, tmp_path: Path
):
    """pip resolves the rendered requirements for MWAA's Python, from the private index (its upstream
    serving the rest), and every package it picks is the one MWAA's constraints pin."""
    constraints = KIT / "constraints" / f"{mwaa}.txt"
    pinned = {
        normalise(n): v
        for n, v in (r.split("==", 1) for r in constraints.read_text().splitlines() if "==" in r)
    }
    python_version = re.search(r"^# python_version: (\S+)", (KIT / "pins" / f"{mwaa}.txt").read_text(), re.M)
    rendered = (dist / "mwaa" / mwaa / "requirements-private-index.txt").read_text()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        re.sub(r'^--constraint ".*"$', f'--constraint "{constraints}"', rendered, flags=re.M)
    )
    report = tmp_path / "report.json"
    if python_version.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}":
        target = []  # this interpreter is MWAA's: pip may build an sdist's metadata as MWAA's pip does
    else:  # another Python: wheels only, for MWAA's platform
        target = [
            "--python-version",
            python_version.group(1),
            "--only-binary",
            ":all:",
            *kit.platform_options(),
        ]
    result = run(
        [release_bin / "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", report,
         *target, "--target", tmp_path / "target", "-r", requirements],
        env=clean_env(PIP_INDEX_URL=private_index.authenticated(), PIP_NO_INPUT="1"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    installs = json.loads(report.read_text())["install"]
    picked = {normalise(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}
    assert picked.pop(PACKAGE) == __version__
    off_pin = {
        name: (version, pinned.get(name)) for name, version in picked.items() if pinned.get(name) != version
    }
    assert off_pin == {}
