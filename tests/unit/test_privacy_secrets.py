"""Secrets stay secret: the PII salt and a database password never appear in logs, outputs or the repository."""

from __future__ import annotations

import logging
import re
import subprocess
import uuid
from pathlib import Path

from rapport.publish import redact_url
from rapport.trust.erasure import ErasureRequest, forget_all
from rapport.trust.retention import apply_retention

ROOT = Path(__file__).resolve().parents[2]


def test_salt_and_password_never_reach_logs_or_state(tmp_path, monkeypatch, caplog):
    salt = f"salt-{uuid.uuid4().hex}"
    password = f"pw-{uuid.uuid4().hex}"
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    monkeypatch.setenv("RAPPORT_PII_SALT", salt)
    caplog.set_level(logging.DEBUG)
    from datetime import date

    forget_all([ErasureRequest("C1", "REQ-1")], republish=False)
    apply_retention(date(2026, 11, 1))
    logging.getLogger("rapport.test").info("publishing to %s", redact_url(f"postgresql://u:{password}@db/x"))

    assert salt not in caplog.text and password not in caplog.text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert salt.encode() not in data and password.encode() not in data, path


URL_PASSWORD = re.compile(r"postgres(?:ql)?(?:\+\w+)?://[^:/@\s\"']+:([^@\s\"']+)@")


def literal_url_password(line: str) -> bool:
    """A postgres URL whose password is written out (not ``${VAR}``, a ``{placeholder}`` or ``***``)."""
    return any(not p.startswith(("$", "{", "*")) for p in URL_PASSWORD.findall(line))


def test_the_repository_holds_no_real_salt_or_password():
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    offenders = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        for line in path.read_text(errors="ignore").splitlines():
            if line.startswith(("RAPPORT_PII_SALT=", "RAPPORT_BI_PASSWORD=")) and line.split("=", 1)[1] not in (
                "",
                "local-dev-salt-change-me",
            ):
                offenders.append(f"{name}: {line.split('=', 1)[0]}")
            if literal_url_password(line):
                offenders.append(f"{name}: a postgres URL with a literal password")
    assert offenders == []
