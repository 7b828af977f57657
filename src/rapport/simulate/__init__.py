"""Seeded simulator of a fashion brand's omnichannel customer data, written as daily landing files.

Each customer has a hidden state that evolves week by week (satisfaction, engagement, drift towards
churn, price sensitivity, channel mix, loyalty tier); every source table of :mod:`rapport.contract`
is drawn from that state, so what the pipeline learns (churn, uplift, sentiment) is really there.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rapport.contract import TABLES
from rapport.settings import get_settings
from rapport.simulate.commerce import build_loyalty_tiers, build_offers, build_products, simulate_orders
from rapport.simulate.corpus import load_review_pool
from rapport.simulate.landing import Clock, write_table
from rapport.simulate.people import build_consents, build_customers
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

__all__ = ["generate"]

log = logging.getLogger(__name__)
FILE_FORMATS = ("csv", "parquet")
STREAMS = (
    "world",
    "customers",
    "consents",
    "products",
    "orders",
    "web",
    "app",
    "store",
    "calls",
    "messages",
    "community",
    "nps",
    "reviews",
)


def generate(
    landing_dir: Path,
    customers: int = 5000,
    start: date = date(2024, 11, 1),
    days: int = 730,
    seed: int = 42,
    file_format: str = "csv",
) -> dict[str, int]:
    """Write daily landing files for every table of rapport.contract.TABLES; returns rows written per table."""
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {FILE_FORMATS}, got {file_format!r}")
    if customers < 1 or customers > 999_999:
        raise ValueError(f"customers must be between 1 and 999999, got {customers}")
    if days < 14:
        raise ValueError(f"days must be at least 14, got {days}")
    began = time.perf_counter()
    pool = load_review_pool(get_settings().reviews_corpus)
    rngs = dict(
        zip(STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(STREAMS))), strict=True)
    )
    clock = Clock(start, -PRE_START_MAX_DAYS - 2, days + 40)
    world = simulate_world(customers, start, days, rngs["world"])
    customer_table = build_customers(world, clock, rngs["customers"])
    products, prices, popularity = build_products(clock, rngs["products"])
    orders, commerce_tables, sends = simulate_orders(world, popularity, prices, clock, rngs["orders"])
    built = {
        "customers": customer_table,
        "consents": build_consents(world, clock, rngs["consents"]),
        "products": products,
        "offers": build_offers(clock),
        **commerce_tables,
        "loyalty_tiers": build_loyalty_tiers(world, orders, clock),
        "web_events": build_web_events(world, clock, rngs["web"]),
        "app_events": build_app_events(world, clock, rngs["app"]),
        "store_visits": build_store_visits(world, orders, customer_table[0]["loyalty_card_id"], clock, rngs["store"]),
        "call_center_contacts": build_call_center(world, orders, customer_table[0]["phone"], clock, rngs["calls"]),
        "interactions": build_interactions(world, sends, clock, rngs["messages"]),
        "community_activity": build_community_activity(world, clock, rngs["community"]),
        "nps_surveys": build_nps_surveys(world, orders, clock, rngs["nps"]),
        "reviews": build_reviews(world, orders, pool, clock, rngs["reviews"]),
    }
    landing_dir = Path(landing_dir)
    counts: dict[str, int] = {}
    for table in tqdm(TABLES, desc="write landing files", unit="table", disable=None, leave=False):
        columns, table_days = built[table.name]
        counts[table.name] = write_table(landing_dir, table, columns, table_days, clock, file_format)
    log.info("simulated %d customers over %d days in %.1f s: %s", customers, days, time.perf_counter() - began, counts)
    return counts
