"""Writes under failure and concurrency: an exception, a SIGKILL, a full disk, a second writer process.

Each test injects the failure for real (a bad row, a killed process, a 1 MiB tmpfs, two processes)
and checks that the previous good version survives and a rerun completes the work.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from rapport import publish, warehouse

pytestmark = [pytest.mark.integration]

WORKERS = Path(__file__).with_name("trust_workers.py")
DAY = date(2026, 11, 1)
sys.path.insert(0, str(WORKERS.parent))
from trust_workers import SCORES, score_frame, write_partition  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    for name in ("RAPPORT_WAREHOUSE", "RAPPORT_SERVING_PATH", "RAPPORT_SERVING_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def start(*arguments: str, home: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKERS), *arguments],
        env={**os.environ, "RAPPORT_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen, expected: str) -> None:
    line = process.stdout.readline().strip()
    assert line == expected, (line, process.stderr.read() if process.poll() is not None else "")


def partition(day: date = DAY) -> list[tuple]:
    con = warehouse.connect()
    try:
        return con.execute(
            f"select count(*), min(churn_probability), max(churn_probability) from {SCORES} where as_of_date = ?",
            [day],
        ).fetchall()
    finally:
        con.close()


def test_exception_halfway_through_a_write_back_keeps_the_previous_partition(home):
    write_partition(DAY, 50, 1.0)
    broken = score_frame(DAY, 50, 2.0).astype({"churn_probability": object})
    broken.loc[40, "churn_probability"] = "not a number"  # fails inside the insert, after the delete ran
    con = warehouse.connect()
    try:
        with pytest.raises(Exception, match="not a number"):
            warehouse.replace_partition(con, SCORES, broken, {"as_of_date": DAY, "model_name": "rapport-churn"})
    finally:
        con.close()
    assert partition() == [(50, 1.0, 1.0)]
    write_partition(DAY, 60, 2.0)
    assert partition() == [(60, 2.0, 2.0)]


def test_same_partition_written_twice_gives_identical_tables(home):
    write_partition(DAY, 30, 1.0)
    write_partition(date(2026, 11, 2), 30, 3.0)
    con = warehouse.connect()
    first = con.execute(f"select * from {SCORES} order by all").fetchall()
    con.close()
    write_partition(DAY, 30, 1.0)
    con = warehouse.connect()
    second = con.execute(f"select * from {SCORES} order by all").fetchall()
    con.close()
    assert second == first and len(second) == 60


def test_process_killed_inside_a_write_leaves_the_previous_partition(home):
    write_partition(DAY, 40, 1.0)
    victim = start("die_mid_write", DAY.isoformat(), "5000", home=home)
    wait_for_line(victim, "mid-write")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)

    assert partition() == [(40, 1.0, 1.0)]  # the uncommitted WAL of the dead writer is not replayed
    write_partition(DAY, 5000, 99.0)
    assert partition() == [(5000, 99.0, 99.0)]


def test_full_disk_during_publish_keeps_the_previous_bi_copy(home):
    """A real ENOSPC: the BI copy lives on a 1 MiB tmpfs (a private mount namespace) that the new copy overflows."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"]).returncode:
        pytest.fail("this test needs `unshare -rm` (user and mount namespaces) to mount a tiny tmpfs")
    serving = home / "tiny"
    serving.mkdir()
    write_partition(DAY, 100, 1.0)
    script = f"""
import os, sys
os.environ["RAPPORT_SERVING_PATH"] = "{serving}/bi.duckdb"
sys.path.insert(0, "{WORKERS.parent}")
from trust_workers import write_partition, SCORES
from rapport import publish, warehouse
from datetime import date
publish.publish_duckdb((SCORES,))
before = publish.open_published().execute("select count(*) from {SCORES}").fetchone()[0]
write_partition(date(2026, 11, 2), 400_000, 2.0)
try:
    publish.publish_duckdb((SCORES,))
    print("published?!")
except Exception as exc:
    print("failed:", type(exc).__name__, "space" in str(exc).lower())
con = publish.open_published()
print("after:", before, con.execute("select count(*) from {SCORES}").fetchone()[0])
print("left:", sorted(os.listdir("{serving}")))
"""
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {serving} && exec {sys.executable} -"],
        input=script,
        env={**os.environ, "RAPPORT_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "failed: IOException True", done.stdout
    assert lines[1] == "after: 100 100"  # BI still reads the previous copy, whole
    assert lines[2] == "left: ['bi.duckdb']"  # no half-written temporary left behind
    # with room again, a rerun publishes the new version
    result = publish.publish_duckdb((SCORES,))
    assert result["tables"][SCORES] == 400_100


def test_two_processes_writing_different_days_at_once_both_land(home):
    warehouse.connect().close()
    first = start("write_days", "2026-01-01", "12", "500", home=home)
    second = start("write_days", "2026-02-01", "12", "500", home=home)
    for process in (first, second):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
        assert out.strip() == "done"
    con = warehouse.connect()
    try:
        per_day = con.execute(f"select as_of_date, count(*) from {SCORES} group by 1 order by 1").fetchall()
    finally:
        con.close()
    assert len(per_day) == 24
    assert {n for _, n in per_day} == {500}


def test_a_waiting_writer_names_the_holder_and_gives_up_after_the_timeout(home):
    holder = start("hold_lock", "60", home=home)
    try:
        wait_for_line(holder, "holding")
        started = time.monotonic()
        with pytest.raises(warehouse.WarehouseBusyError, match=rf"held by pid {holder.pid} .*gave up after 1 s"):
            with warehouse.writer_lock(timeout=1):
                pass
        assert 0.9 < time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait()
    with warehouse.writer_lock(timeout=5):  # the kernel released the dead holder's lock
        pass


def test_opening_the_warehouse_held_by_another_process_says_who_holds_it(home):
    warehouse.connect().close()
    holder = start("hold_connection", "60", home=home)
    try:
        wait_for_line(holder, "holding")
        with pytest.raises(warehouse.WarehouseBusyError, match="open in another process"):
            warehouse.connect()
    finally:
        holder.kill()
        holder.wait()


def test_bi_reader_never_sees_an_error_or_a_half_written_table_during_publishes(home, tmp_path):
    write_partition(DAY, 1000, 1.0)
    with warehouse.writer_lock():
        publish.publish_duckdb((SCORES,))
    report = tmp_path / "reader.json"
    reader = start("read_serving", "280", "1000", str(report), home=home)
    wait_for_line(reader, "reading")
    writer = start("publish_versions", "8", "1000", home=home)
    out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err[-3000:]
    Path(f"{report}.stop").touch()
    reader.wait(timeout=120)

    seen = json.loads(report.read_text())
    assert seen["errors"] == []
    assert len(seen["seen"]) >= 3, seen["seen"]  # it really read while versions changed
