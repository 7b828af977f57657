"""Seeded simulator of a fashion brand's omnichannel customer data, written as daily landing files.

Each customer has a hidden state that evolves week by week (satisfaction, engagement, drift towards
churn, price sensitivity, channel mix, loyalty tier); every source table of :mod:`rapport.contract`
is drawn from that state, so what the pipeline learns (churn, uplift, sentiment) is really there.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from datetime import date
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rapport.contract import TABLES_BY_NAME
from rapport.settings import get_settings
from rapport.simulate.commerce import (
    build_campaigns,
    build_loyalty_tiers,
    build_offers,
    build_products,
    plan_campaigns,
    simulate_orders,
)
from rapport.simulate.corpus import ReviewPool, load_review_pool
from rapport.simulate.landing import Clock, IdSequence, LandingWriter, csv_to_parquet
from rapport.simulate.people import build_consents, build_customers, build_deletion_requests
from rapport.simulate.signals import (
    build_app_events,
    build_call_center,
    build_community_activity,
    build_interactions,
    build_nps_surveys,
    build_reviews,
    build_store_visits,
    build_web_events,
)
from rapport.simulate.world import PRE_START_MAX_DAYS, simulate_world

__all__ = ["BLOCK_CUSTOMERS", "generate"]

log = logging.getLogger(__name__)
FILE_FORMATS = ("csv", "parquet")
MAX_CUSTOMERS = 10_000_000
# Customers simulated together. Part of the data set's definition (block b draws from its own seeded
# streams), so it is a constant, not a knob: the same seed gives the same bytes whatever the machine.
BLOCK_CUSTOMERS = 50_000
CATALOG_STREAMS = ("products", "campaigns")
BLOCK_STREAMS = (
    "world",
    "customers",
    "consents",
    "orders",
    "web",
    "app",
    "store",
    "calls",
    "messages",
    "community",
    "nps",
    "reviews",
    "deletions",
)


def _streams(seed: int, names: tuple[str, ...], key: tuple[int, ...]) -> dict[str, np.random.Generator]:
    """Independent generators per stream, derived from (seed, key): a block's draws never depend on another's."""
    children = np.random.SeedSequence(seed, spawn_key=key).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children, strict=True)}


def generate(
    landing_dir: Path,
    customers: int = 5000,
    start: date = date(2024, 11, 1),
    days: int = 730,
    seed: int = 42,
    file_format: str = "csv",
) -> dict[str, int]:
    """Write daily landing files for every table of rapport.contract.TABLES; returns rows written per table.

    Customers are simulated in blocks of :data:`BLOCK_CUSTOMERS`, each block's rows appended to the
    daily files, so memory is bounded by one block whatever the number of customers. Files are built
    in a sibling folder and moved into ``landing_dir`` only when complete, so a failed run leaves
    the landing folder as it was.
    """
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {FILE_FORMATS}, got {file_format!r}")
    if customers < 1 or customers > MAX_CUSTOMERS:
        raise ValueError(f"customers must be between 1 and {MAX_CUSTOMERS}, got {customers}")
    if days < 14:
        raise ValueError(f"days must be at least 14, got {days}")
    began = time.perf_counter()
    pool = load_review_pool(get_settings().reviews_corpus)
    landing_dir = Path(landing_dir)
    staging = landing_dir.parent / f".{landing_dir.name}.generating-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    clock = Clock(start, -PRE_START_MAX_DAYS - 2, days + 40)
    writer = LandingWriter(staging, clock)
    try:
        counts = _write_catalog(writer, start, days, seed)
        plan = counts.pop("_plan")
        ids = IdSequence()
        blocks = range(0, customers, BLOCK_CUSTOMERS)
        with tqdm(total=customers, desc="simulate customers", unit="customer", disable=None) as progress:
            for block, first in enumerate(blocks):
                size = min(BLOCK_CUSTOMERS, customers - first)
                written = _write_block(writer, plan, pool, start, days, seed, block, first, size, ids)
                for name, rows in written.items():
                    counts[name] = counts.get(name, 0) + rows
                progress.update(size)
                log.info("block %d/%d: %d customers written", block + 1, len(blocks), first + size)
        if file_format == "parquet":
            for path in tqdm(sorted(writer.started), desc="write parquet", unit="file", disable=None, leave=False):
                csv_to_parquet(path)
        _move_into_place(staging, landing_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    counts = {name: counts.get(name, 0) for name in TABLES_BY_NAME}
    log.info("simulated %d customers over %d days in %.1f s: %s", customers, days, time.perf_counter() - began, counts)
    return counts


def _write_catalog(writer: LandingWriter, start: date, days: int, seed: int) -> dict:
    """Products, offers and campaigns: the brand's side, shared by every block of customers."""
    rng = _streams(seed, CATALOG_STREAMS, (0,))
    (products, product_days), prices, popularity = build_products(writer.clock, rng["products"])
    plan = plan_campaigns(start, days, rng["campaigns"])
    counts: dict = {"_plan": (plan, prices, popularity)}
    for name, (columns, table_days) in {
        "products": (products, product_days),
        "offers": build_offers(writer.clock),
        "campaigns": build_campaigns(plan, writer.clock),
    }.items():
        counts[name] = writer.write(TABLES_BY_NAME[name], columns, table_days)
    return counts


def _write_block(
    writer: LandingWriter,
    catalog: tuple,
    pool: ReviewPool,
    start: date,
    days: int,
    seed: int,
    block: int,
    first: int,
    size: int,
    ids: IdSequence,
) -> dict[str, int]:
    """Simulate one block of customers and append every table's rows; returns rows written per table."""
    plan, prices, popularity = catalog
    rng = _streams(seed, BLOCK_STREAMS, (1, block))
    clock = writer.clock
    world = simulate_world(size, start, days, rng["world"], first_customer=first, ids=ids)
    customer_table = build_customers(world, clock, rng["customers"])
    orders, commerce_tables, sends = simulate_orders(world, plan, popularity, prices, clock, rng["orders"])
    builders = {
        "customers": lambda: customer_table,
        "consents": lambda: build_consents(world, clock, rng["consents"]),
        **{name: (lambda built=built: built) for name, built in commerce_tables.items()},
        "loyalty_tiers": lambda: build_loyalty_tiers(world, orders, clock),
        "web_events": lambda: build_web_events(world, clock, rng["web"]),
        "app_events": lambda: build_app_events(world, clock, rng["app"]),
        "store_visits": lambda: build_store_visits(
            world, orders, customer_table[0]["loyalty_card_id"], clock, rng["store"]
        ),
        "call_center_contacts": lambda: build_call_center(
            world, orders, customer_table[0]["phone"], clock, rng["calls"]
        ),
        "interactions": lambda: build_interactions(world, sends, clock, rng["messages"]),
        "community_activity": lambda: build_community_activity(world, clock, rng["community"]),
        "nps_surveys": lambda: build_nps_surveys(world, orders, clock, rng["nps"]),
        "reviews": lambda: build_reviews(world, orders, pool, clock, rng["reviews"]),
        "deletion_requests": lambda: build_deletion_requests(world, clock, rng["deletions"]),
    }
    counts = {}
    for name, build in builders.items():
        columns, table_days = build()
        counts[name] = writer.write(TABLES_BY_NAME[name], columns, table_days)
    return counts


def _move_into_place(staging: Path, landing_dir: Path) -> None:
    """Move every finished file into the landing folder, replacing files of the same name."""
    for folder in sorted(p for p in staging.iterdir() if p.is_dir()):
        target = landing_dir / folder.name
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.iterdir()):
            os.replace(path, target / path.name)
