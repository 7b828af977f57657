"""Nothing leaves the machine: the pipeline's stages run in a network namespace with no network at all.

`unshare -rn` gives the process tree a private network namespace with only a down loopback, so any
connection attempt (telemetry of dbt, GX, MLflow, Hugging Face downloads) fails loudly; the stages
must complete anyway and their logs must show no attempt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NETWORK_ERRORS = (
    "Network is unreachable",
    "Errno 101",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Max retries exceeded",
    "NewConnectionError",
    "urlopen error",
    "Failed to establish a new connection",
)


def offline(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rn", "true"]).returncode:
        pytest.fail("this test needs `unshare -rn` (user and network namespaces)")
    return subprocess.run(
        ["unshare", "-rn", "sh", "-c", command], env=env, capture_output=True, text=True, timeout=1500
    )


def test_the_namespace_really_has_no_network():
    probe = f"{sys.executable} -c \"import socket; socket.create_connection(('192.0.2.1', 80), timeout=3)\""
    done = offline(probe, dict(os.environ))
    assert done.returncode != 0 and "Network is unreachable" in done.stderr


def test_stages_complete_offline_and_attempt_no_connection(pipeline_home_copy, pipeline_run):
    rapport = Path(sys.executable).with_name("rapport")
    as_of = pipeline_run["as_of"].isoformat()
    steps = [
        "ingest",
        f"transform --as-of {as_of}",
        f"train churn --as-of {as_of}",
        f"score churn --as-of {as_of}",
        "publish",
        f"retention --as-of {as_of}",
        "forget C000007",
    ]
    command = " && ".join(f"{rapport} {step}" for step in steps)
    env = {k: v for k, v in os.environ.items() if k not in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    done = offline(command, env)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert [e for e in NETWORK_ERRORS if e in log] == []
