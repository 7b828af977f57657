"""Time the simulator at scale, then the ingestion of what it wrote; write JSON and a markdown table.

    RAPPORT_HOME=/tmp/gen1m .venv/bin/python benchmarks/bench_generate.py --customers 1000000

Generation runs in this process (``rapport.simulate.generate``) into ``$RAPPORT_HOME/landing``, which
is kept for later use. Peak memory is the RSS of the whole process tree, sampled every 50 ms. Ingest
throughput is measured on the files of the first ``--ingest-days`` days of history (hard links in a
separate landing folder, loaded into a separate warehouse), so a million customers' full history
need not be loaded to know the rate; ``--ingest-days 0`` skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from bench_pipeline import RESULTS, PeakRss, machine

DAY = re.compile(r"_(\d{4}-\d{2}-\d{2})$")


def cpu_seconds() -> float:
    """CPU time of this process and its waited-for children so far: on a shared machine, wall time alone says
    little."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_generate(customers: int, days: int, start: date, seed: int) -> dict:
    from rapport.settings import get_settings
    from rapport.simulate import generate

    landing = get_settings().landing_dir
    with PeakRss() as peak:
        started, cpu_started = time.perf_counter(), cpu_seconds()
        rows = generate(landing, customers=customers, start=start, days=days, seed=seed)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    files = [p for p in landing.rglob("*") if p.is_file()]
    return {
        "landing_dir": str(landing),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "peak_rss_mb": round(peak.peak / 2**20),
        "rows": rows,
        "rows_total": sum(rows.values()),
        "rows_per_second": round(sum(rows.values()) / seconds),
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
    }


def link_window(landing: Path, target: Path, first: date, last: date) -> int:
    """Hard-link the landing files dated in [first, last] into ``target``; returns how many."""
    linked = 0
    for path in sorted(landing.rglob("*")):
        match = DAY.search(path.stem)
        if path.is_file() and match and first <= date.fromisoformat(match.group(1)) <= last:
            destination = target / path.parent.name / path.name
            destination.parent.mkdir(parents=True, exist_ok=True)
            if not destination.exists():
                os.link(path, destination)
            linked += 1
    return linked


def bench_ingest(landing: Path, start: date, window_days: int) -> dict:
    """Ingest the files of the window before and after ``start`` (sign-ups before it land earlier)."""
    from rapport.ingest import ingest
    from rapport.warehouse import connect

    home = Path(os.environ["RAPPORT_HOME"])
    sample = home / f"bench_ingest_{window_days}d"
    first, last = date(1970, 1, 1), start + timedelta(days=window_days - 1)
    files = link_window(landing, sample / "landing", first, last)
    warehouse = sample / "warehouse.duckdb"
    warehouse.unlink(missing_ok=True)
    os.environ["RAPPORT_WAREHOUSE"] = str(warehouse)
    con = connect()
    try:
        with PeakRss() as peak:
            cpu_started = cpu_seconds()
            summary = ingest(sample / "landing", con=con)
            cpu = cpu_seconds() - cpu_started
    finally:
        con.close()
    rows = summary.rows_loaded + summary.rows_rejected
    return {
        "window": f"files dated up to {last} (every sign-up before the start, then {window_days} days)",
        "files": files,
        "seconds": round(summary.seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "peak_rss_mb": round(peak.peak / 2**20),
        "rows": rows,
        "rows_rejected": summary.rows_rejected,
        "rows_per_second": round(rows / summary.seconds) if summary.seconds else None,
    }


def markdown(result: dict) -> str:
    generated, ingested = result["generate"], result.get("ingest")
    lines = [
        f"Simulator at {result['customers']:,} customers, {result['days']} days ({result['machine']['cpus']} CPUs, "
        f"load average {result['load_average_1m']} at the start)",
        *([result["note"]] if result.get("note") else []),
        "",
        f"generate: {generated['seconds']} s wall, {generated['cpu_seconds']} s CPU, peak RSS {generated['peak_rss_mb']} MB, "
        f"{generated['rows_total']:,} rows ({generated['rows_per_second']:,} rows/s), {generated['files']:,} files, "
        f"{generated['bytes'] / 2**30:.2f} GiB",
        "",
        "| table | rows |",
        "| --- | ---: |",
        *(f"| {name} | {rows:,} |" for name, rows in generated["rows"].items()),
    ]
    if ingested:
        lines += [
            "",
            f"ingest of {ingested['window']}: {ingested['files']:,} files, {ingested['rows']:,} rows in "
            f"{ingested['seconds']} s wall ({ingested['cpu_seconds']} s CPU) = {ingested['rows_per_second']:,} rows/s, "
            f"peak RSS {ingested['peak_rss_mb']} MB",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2024, 11, 1))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ingest-days", type=int, default=30, help="days of files to ingest (0: no ingest)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--ingest-only",
        action="store_true",
        help="keep the generate result of today's JSON for this size and measure the ingest again on its landing files",
    )
    args = parser.parse_args(argv)
    if "RAPPORT_HOME" not in os.environ:
        parser.error("set RAPPORT_HOME: the generated landing files are kept under it")

    from rapport.orchestration import TELEMETRY_OFF, apply_environment

    apply_environment(TELEMETRY_OFF)
    args.output.mkdir(parents=True, exist_ok=True)
    stem = f"{date.today().isoformat()}-generate-{args.customers}"
    path = args.output / f"{stem}.json"
    if args.ingest_only:
        if not path.exists():
            parser.error(f"--ingest-only: no generate result at {path}")
        result = json.loads(path.read_text())
    else:
        result = {
            "customers": args.customers,
            "days": args.days,
            "seed": args.seed,
            "machine": machine(),
            "load_average_1m": round(os.getloadavg()[0], 1),
            "generate": bench_generate(args.customers, args.days, args.start, args.seed),
        }
        print(json.dumps(result["generate"], indent=2), flush=True)
        path.write_text(json.dumps(result, indent=2) + "\n")  # kept even if the ingest below fails
    if args.ingest_days:
        landing = Path(result["generate"]["landing_dir"])
        result["ingest"] = bench_ingest(landing, args.start, args.ingest_days)
        result["ingest"]["load_average_1m"] = round(os.getloadavg()[0], 1)
    path.write_text(json.dumps(result, indent=2) + "\n")
    (args.output / f"{stem}.md").write_text(markdown(result) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
