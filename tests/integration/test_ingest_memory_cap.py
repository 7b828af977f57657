"""A landing file larger than the memory ingestion may use still loads whole: it is streamed, never held.

The ingest runs in a child process that first warms up (imports, DuckDB, one tiny ingest), then caps
its own address space at what it uses then plus ``HEADROOM`` (``RLIMIT_AS``, so nothing can grow past
it, RSS or not) and ingests an orders file larger than that headroom. Reading the file whole, as
bytes or as an Arrow table, would not fit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from rapport.contract import get_table

HEADROOM = 448 << 20  # DuckDB's limit (MEMORY_LIMIT), pyarrow's read-ahead, Python
FILE_BYTES = 480 << 20  # > HEADROOM
MEMORY_LIMIT = "256MB"
CUSTOMERS = 1000
PAD = (
    "x" * 400
)  # a fat store_id: many bytes per row, so the file is large while the row count (and run time) stays modest

CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path

    import duckdb
    from rapport.ingest import ingest

    def vm(field):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

    warm_up, landing, headroom = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    ingest(warm_up, con=duckdb.connect())
    baseline = vm("VmPeak")
    resource.setrlimit(resource.RLIMIT_AS, (baseline + headroom, baseline + headroom))
    summary = ingest(landing)
    print(json.dumps({"baseline": baseline, "peak": vm("VmPeak"), "rss_peak": vm("VmHWM"), **summary.as_dict()}))
    """
)


def write_landing(landing: Path, orders: int) -> Path:
    """customers and one orders file of ``orders`` rows, written column-wise (a few seconds for 400 MB)."""
    customers = get_table("customers")
    ids = pc.binary_join_element_wise("C", pa.array(np.arange(CUSTOMERS).astype(str)), "")
    (landing / "customers").mkdir(parents=True)
    pacsv.write_csv(
        pa.table(
            {
                **{c.name: pa.nulls(CUSTOMERS, pa.string()) for c in customers.columns},
                "customer_id": ids,
                "email": pc.binary_join_element_wise(ids, pa.scalar("@example.com"), ""),
                "signup_at": pa.array(["2024-01-01 09:00:00"] * CUSTOMERS),
                "signup_channel": pa.array(["web"] * CUSTOMERS),
                "updated_at": pa.array(["2024-01-01 09:00:00"] * CUSTOMERS),
            }
        ).select(customers.column_names),
        landing / "customers" / "customers_2024-01-01.csv",
    )
    (landing / "orders").mkdir()
    path = landing / "orders" / "orders_2024-01-02.csv"
    rows = np.arange(orders)
    table = pa.table(
        {
            "order_id": pc.binary_join_element_wise("O", pa.array(rows.astype(str)), ""),
            "customer_id": pc.take(ids, pa.array(rows % CUSTOMERS)),
            "ordered_at": pa.array(["2024-01-02 12:00:00"] * orders),
            "channel": pa.array(["web"] * orders),
            "store_id": pa.array(np.char.add(PAD, (rows % 50).astype(str))),
            "order_total": pa.array((rows % 997).astype(str)),
            "discount_amount": pa.array(["0"] * orders),
            "status": pa.array(["completed"] * orders),
            "offer_id": pa.nulls(orders, pa.string()),
            "updated_at": pa.array(["2024-01-02 12:00:00"] * orders),
        }
    )
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="none"))
    return path


@pytest.mark.slow
def test_a_file_larger_than_the_memory_cap_is_streamed_and_loads_every_row(tmp_path):
    row_bytes = len(PAD) + 90
    orders = FILE_BYTES // row_bytes
    path = write_landing(tmp_path / "landing", orders)
    assert path.stat().st_size > HEADROOM
    write_landing(tmp_path / "warm_up", 10)
    env = {
        **os.environ,
        "RAPPORT_HOME": str(tmp_path / "home"),
        "RAPPORT_INGEST_MEMORY_LIMIT": MEMORY_LIMIT,
        "MALLOC_ARENA_MAX": "2",  # thread arenas reserve address space the cap would count
    }
    env.pop("RAPPORT_WAREHOUSE", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "warm_up"), str(tmp_path / "landing"), str(HEADROOM)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["peak"] <= result["baseline"] + HEADROOM
    assert result["tables"]["orders"] == {"files": 1, "rows_loaded": orders, "rows_rejected": 0, "rows_resent": 0}
    assert result["tables"]["customers"]["rows_loaded"] == CUSTOMERS
