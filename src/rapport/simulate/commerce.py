"""Products, offers, orders with their lines, campaigns with randomised control groups, and loyalty tiers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from rapport.contract import CHANNELS, LOYALTY_TIERS, OFFER_TYPES, PRODUCT_CATEGORIES
from rapport.simulate.landing import (
    SECONDS_PER_DAY,
    Clock,
    digits,
    format_bools,
    format_ints,
    format_money,
    labels,
    make_ids,
)
from rapport.simulate.people import store_ids
from rapport.simulate.world import ONLINE_HOURS, STORE_HOURS, World, draw_weekly_events

Columns = dict[str, np.ndarray]
Built = tuple[Columns, np.ndarray]

PRODUCT_COUNT = 200
RESPONSE_WINDOW_DAYS = 14
CONTROL_SHARE = 0.2
CORRECTION_SHARE = 0.005
TIER_POINTS = (300, 1000, 2500)

CATEGORY_NOUNS = {
    "Tops": ("Blouse", "Tee", "Tank", "Shirt", "Knit Top"),
    "Dresses": ("Midi Dress", "Wrap Dress", "Maxi Dress", "Shirt Dress", "Slip Dress"),
    "Bottoms": ("Jeans", "Trousers", "Skirt", "Shorts", "Culottes"),
    "Intimate": ("Bralette", "Lounge Set", "Camisole", "Robe", "Sleep Shirt"),
    "Jackets": ("Blazer", "Denim Jacket", "Trench", "Parka", "Bomber"),
    "Trend": ("Co-ord Set", "Cargo Pants", "Corset Top", "Crochet Vest", "Mesh Top"),
}
CATEGORY_WEIGHTS = np.array([0.34, 0.22, 0.18, 0.09, 0.1, 0.07])
CATEGORY_PRICE = {"Tops": 39, "Dresses": 79, "Bottoms": 59, "Intimate": 29, "Jackets": 119, "Trend": 49}
ADJECTIVES = ("Relaxed", "Classic", "Cropped", "Tailored", "Soft", "Everyday", "Linen", "Ribbed", "Pleated", "Easy")
COLOURS = ("Ivory", "Navy", "Sage", "Rust", "Black", "Stone", "Blush", "Olive", "Cobalt", "Sand")

OFFER_SPECS: dict[str, tuple[str, float, float, str]] = {
    "discount": ("email", 12.0, 0.20, "20% off your next order"),
    "free_shipping": ("email", 5.5, 0.0, "Free shipping on your next online order"),
    "loyalty_upgrade": ("push", 3.0, 0.10, "Double points and 10% off for loyalty members"),
    "cross_sell_bundle": ("email", 8.0, 0.15, "15% off when you complete the look"),
    "win_back": ("sms", 15.0, 0.25, "We miss you: 25% off to come back"),
    "community_invite": ("email", 1.5, 0.0, "Join our style community and its next event"),
}


@dataclass
class Orders:
    """Every order as arrays, in ordered_at order (index i is order id i + 1)."""

    customer: np.ndarray
    seconds: np.ndarray
    channel: np.ndarray
    store: np.ndarray
    status: np.ndarray
    offer: np.ndarray
    first_product: np.ndarray
    total: np.ndarray


@dataclass(frozen=True)
class CampaignPlan:
    """The brand's campaigns, the same for every block of customers: send day, offer, share of eligible targeted."""

    day: np.ndarray
    offer: np.ndarray
    share: np.ndarray

    def __len__(self) -> int:
        return len(self.day)


@dataclass
class CampaignSends:
    """Treated customers' message sends, for the interactions table."""

    customer: np.ndarray
    campaign: np.ndarray
    channel: np.ndarray
    seconds: np.ndarray
    opened: np.ndarray
    clicked: np.ndarray


def build_products(clock: Clock, rng: np.random.Generator) -> tuple[Built, np.ndarray, np.ndarray]:
    """The catalog on day one; also returns list prices and purchase popularity."""
    category = rng.choice(len(PRODUCT_CATEGORIES), PRODUCT_COUNT, p=CATEGORY_WEIGHTS)
    names, prices = [], np.empty(PRODUCT_COUNT)
    for i, c in enumerate(category):
        cat = PRODUCT_CATEGORIES[c]
        nouns = CATEGORY_NOUNS[cat]
        names.append(
            f"{ADJECTIVES[rng.integers(len(ADJECTIVES))]} {COLOURS[rng.integers(len(COLOURS))]} "
            f"{nouns[rng.integers(len(nouns))]}"
        )
        prices[i] = np.round(CATEGORY_PRICE[cat] * rng.lognormal(0, 0.3)) - 0.01
    popularity = rng.pareto(1.2, PRODUCT_COUNT) + 0.2
    columns = {
        "product_id": make_ids("P", PRODUCT_COUNT, 4),
        "product_name": np.array(names, dtype=object),
        "category": labels(PRODUCT_CATEGORIES)[category],
        "list_price": format_money(prices),
        "margin_rate": format_money(rng.uniform(0.35, 0.7, PRODUCT_COUNT)),
        "updated_at": clock.timestamps(np.zeros(PRODUCT_COUNT, dtype=np.int64)),
    }
    return (columns, np.zeros(PRODUCT_COUNT, dtype=np.int64)), prices, popularity / popularity.sum()


def build_offers(clock: Clock) -> Built:
    """One offer per contract offer type, on day one."""
    count = len(OFFER_TYPES)
    columns = {
        "offer_id": make_ids("F", count, 3),
        "offer_type": np.array(OFFER_TYPES, dtype=object),
        "channel": np.array([OFFER_SPECS[t][0] for t in OFFER_TYPES], dtype=object),
        "unit_cost": format_money(np.array([OFFER_SPECS[t][1] for t in OFFER_TYPES])),
        "description": np.array([OFFER_SPECS[t][3] for t in OFFER_TYPES], dtype=object),
        "updated_at": clock.timestamps(np.zeros(count, dtype=np.int64)),
    }
    return columns, np.zeros(count, dtype=np.int64)


def _pick_rows(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cum = weights.cumsum(axis=1)
    cum /= cum[:, -1:]
    return np.minimum((rng.random(len(weights))[:, None] > cum).sum(axis=1), weights.shape[1] - 1)


def _store_for(world: World, customer: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.where(rng.random(len(customer)) < 0.85, world.home_store[customer], rng.integers(0, 24, len(customer)))


def _order_seconds_for_channel(seconds: np.ndarray, channel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    in_store = channel == CHANNELS.index("store")
    day = seconds // SECONDS_PER_DAY
    hours = rng.choice(24, len(seconds), p=STORE_HOURS) * 3600 + rng.integers(0, 3600, len(seconds))
    return np.where(in_store, day * SECONDS_PER_DAY + hours, seconds)


def plan_campaigns(start: date, days: int, rng: np.random.Generator) -> CampaignPlan:
    """One campaign early each month, offers in a shuffled rotation, each targeting 10-20% of the eligible."""
    send_days, month = [], start.replace(day=1)
    while True:
        day = (month - start).days + 4 + int(rng.integers(0, 7))
        if day >= days:
            break
        if day >= 0:
            send_days.append(day)
        month = (month + timedelta(days=32)).replace(day=1)
    cycle = rng.permutation(len(OFFER_TYPES))
    count = len(send_days)
    offer = cycle[np.arange(count) % len(cycle)].astype(np.int64)
    return CampaignPlan(np.array(send_days, dtype=np.int64), offer, rng.uniform(0.10, 0.20, count))


def build_campaigns(plan: CampaignPlan, clock: Clock) -> Built:
    seconds = plan.day * SECONDS_PER_DAY + 10 * 3600
    names = np.array(
        [
            f"{clock.day_name(d)[:7]} {OFFER_TYPES[o].replace('_', ' ')}".encode()
            for o, d in zip(plan.offer, plan.day, strict=True)
        ],
        dtype="S",
    )
    columns = {
        "campaign_id": make_ids("K", len(plan), 4),
        "offer_id": make_ids("F", len(OFFER_TYPES), 3)[plan.offer],
        "campaign_name": names,
        "started_at": clock.timestamps(seconds),
        "control_share": format_money(np.full(len(plan), CONTROL_SHARE)),
    }
    return columns, plan.day


def simulate_orders(
    world: World,
    plan: CampaignPlan,
    popularity: np.ndarray,
    prices: np.ndarray,
    clock: Clock,
    rng: np.random.Generator,
) -> tuple[Orders, dict[str, Built], CampaignSends]:
    """Baseline orders from latent state, then campaigns, their responses and the orders responses bring."""
    ratio = np.clip(world.slow_satisfaction / world.base_satisfaction[:, None], 0, 1.3)
    rates = world.order_rate[:, None] * (0.55 + 0.45 * ratio) * world.season[None, :] * world.active
    customer, seconds = draw_weekly_events(rates, world, rng, ONLINE_HOURS)
    channel = _pick_rows(world.channel_mix[customer], rng)
    seconds = np.maximum(_order_seconds_for_channel(seconds, channel, rng), world.signup_seconds[customer] + 60)
    order = np.lexsort((customer, seconds))
    customer, seconds, channel = customer[order], seconds[order], channel[order]
    offer = np.full(len(customer), -1)

    counts = np.zeros((world.n, world.weeks))
    np.add.at(counts, (customer, seconds // (7 * SECONDS_PER_DAY)), 1)
    tier_proxy = np.searchsorted(np.array([4, 12, 30]), np.cumsum(counts, axis=1), side="right")

    by_customer = np.lexsort((seconds, customer))
    keys = customer[by_customer] * (1 << 40) + seconds[by_customer]
    resp: dict[str, list] = {k: [] for k in ("campaign", "customer", "offer", "treated", "sent", "responded", "at")}
    new_orders: dict[str, list] = {"customer": [], "seconds": [], "offer": []}
    sends: dict[str, list] = {k: [] for k in ("customer", "campaign", "channel", "seconds", "opened", "clicked")}
    for k, (day, offer_index, share) in enumerate(zip(plan.day, plan.offer, plan.share, strict=True)):
        offer_type = OFFER_TYPES[offer_index]
        channel_name = OFFER_SPECS[offer_type][0]
        sent = day * SECONDS_PER_DAY + 10 * 3600
        week = min(day // 7, world.weeks - 1)
        consent = {
            "email": world.email_consent & (world.email_withdrawn_week > week),
            "sms": world.sms_consent & (world.sms_withdrawn_week > week),
            "push": world.push_consent,
        }[channel_name]
        eligible = np.flatnonzero(consent & (world.signup_seconds < sent))
        size = int(round(len(eligible) * share))
        if size == 0:
            continue
        targets = np.sort(rng.choice(eligible, size, replace=False))
        treated = np.ones(size, dtype=bool)
        treated[rng.permutation(size)[: int(round(CONTROL_SHARE * size))]] = False

        lo = targets * (1 << 40) + sent
        hi = lo + RESPONSE_WINDOW_DAYS * SECONDS_PER_DAY
        first = np.searchsorted(keys, lo)
        has_natural = (first < len(keys)) & (keys[np.minimum(first, len(keys) - 1)] < hi)
        natural = by_customer[np.minimum(first, len(keys) - 1)]

        active = world.active[targets, week]
        ps, eng = world.price_sensitivity[targets], world.engagement[targets, week]
        web_app = world.channel_mix[targets, 0] + world.channel_mix[targets, 1]
        uplift = {
            "discount": 0.02 + 0.22 * ps,
            "free_shipping": 0.01 + 0.10 * web_app,
            "loyalty_upgrade": 0.01 + 0.12 * np.isin(tier_proxy[targets, week], (1, 2)),
            "cross_sell_bundle": 0.01 + 0.10 * eng,
            "win_back": 0.01 + 0.30 * world.drifting[targets, week],
            "community_invite": 0.16 * eng**2,
        }[offer_type]
        uplift = np.where(active, uplift, 0.05 if offer_type == "win_back" else 0.005)
        lifted = treated & ~has_natural & (rng.random(size) < uplift)
        responded = has_natural | lifted

        take = treated & has_natural
        free = take & (offer[natural] < 0)
        offer[natural[free]] = offer_index
        lift_at = sent + np.minimum(
            rng.exponential(3 * SECONDS_PER_DAY, size).astype(np.int64) + 1800,
            RESPONSE_WINDOW_DAYS * SECONDS_PER_DAY - 60,
        )
        lift_ok = lifted & (lift_at // SECONDS_PER_DAY < world.days) & world.before_deletion(targets, lift_at)
        responded &= has_natural | lift_ok
        new_orders["customer"].append(targets[lift_ok])
        new_orders["seconds"].append(lift_at[lift_ok])
        new_orders["offer"].append(np.full(lift_ok.sum(), offer_index))
        at = np.where(has_natural, seconds[natural], lift_at)

        for key, value in (
            ("campaign", np.full(size, k)),
            ("customer", targets),
            ("offer", np.full(size, offer_index)),
            ("treated", treated),
            ("sent", np.full(size, sent)),
            ("responded", responded),
            ("at", at),
        ):
            resp[key].append(value)
        if channel_name in ("email", "sms"):
            opened = treated & (rng.random(size) < (0.1 + 0.5 * eng if channel_name == "email" else 0.0))
            clicked = treated & (opened | (channel_name == "sms")) & (rng.random(size) < np.where(responded, 0.6, 0.05))
            sends["customer"].append(targets[treated])
            sends["campaign"].append(np.full(treated.sum(), k))
            sends["channel"].append(np.full(treated.sum(), channel_name.encode(), dtype="S5"))
            sends["seconds"].append(np.full(treated.sum(), sent))
            sends["opened"].append(opened[treated])
            sends["clicked"].append(clicked[treated])

    def cat(values: list, dtype: type = np.int64) -> np.ndarray:
        return np.concatenate(values) if values else np.zeros(0, dtype=dtype)

    extra_customer = cat(new_orders["customer"])
    extra_channel = _pick_rows(world.channel_mix[extra_customer][:, :3], rng) if len(extra_customer) else extra_customer
    customer = np.concatenate([customer, extra_customer])
    seconds = np.concatenate([seconds, cat(new_orders["seconds"])])
    channel = np.concatenate([channel, extra_channel])
    offer = np.concatenate([offer, cat(new_orders["offer"])])
    order = np.lexsort((customer, seconds))
    customer, seconds, channel, offer = customer[order], seconds[order], channel[order], offer[order]

    week = np.minimum(seconds // (7 * SECONDS_PER_DAY), world.weeks - 1)
    satisfaction = world.satisfaction[customer, week]
    u = rng.random(len(customer))
    p_return = 0.04 + 0.12 * (1 - satisfaction)
    status = np.where(u < p_return, 1, np.where(u < p_return + 0.03, 2, 0))
    store = np.where(channel == CHANNELS.index("store"), _store_for(world, customer, rng), -1)

    responses = _response_table(world, resp, cat, clock)
    built_orders, built_items, first_product, total = _order_tables(
        world, customer, seconds, channel, store, status, offer, popularity, prices, clock, rng
    )
    send_arrays = CampaignSends(
        *(
            cat(sends[k], "S5" if k == "channel" else (bool if k in ("opened", "clicked") else np.int64))
            for k in ("customer", "campaign", "channel", "seconds", "opened", "clicked")
        )
    )
    orders = Orders(customer, seconds, channel, store, status, offer, first_product, total)
    tables = {"offer_responses": responses, "orders": built_orders, "order_items": built_items}
    return orders, tables, send_arrays


def _response_table(world: World, resp: dict[str, list], cat, clock: Clock) -> Built:
    campaign, customer, offer = cat(resp["campaign"]), cat(resp["customer"]), cat(resp["offer"])
    treated, responded, sent, at = (
        cat(resp["treated"], bool),
        cat(resp["responded"], bool),
        cat(resp["sent"]),
        cat(resp["at"]),
    )
    count = len(campaign)
    columns = {
        "assignment_id": world.ids.take("A", count, 8),
        "campaign_id": digits(campaign + 1, 4, b"K"),
        "customer_id": world.customer_ids[customer],
        "offer_id": make_ids("F", len(OFFER_TYPES), 3)[offer],
        "assignment_group": np.where(treated, b"treatment", b"control"),
        "sent_at": clock.timestamps(sent),
        "has_responded": format_bools(responded),
        "responded_at": np.where(responded, clock.timestamps(at), b""),
    }
    return columns, sent // SECONDS_PER_DAY


def _order_tables(
    world: World,
    customer: np.ndarray,
    seconds: np.ndarray,
    channel: np.ndarray,
    store: np.ndarray,
    status: np.ndarray,
    offer: np.ndarray,
    popularity: np.ndarray,
    prices: np.ndarray,
    clock: Clock,
    rng: np.random.Generator,
) -> tuple[Built, Built, np.ndarray, np.ndarray]:
    count = len(customer)
    week = np.minimum(seconds // (7 * SECONDS_PER_DAY), world.weeks - 1)
    on_sale = rng.random(count) < np.clip(
        0.12 + 0.35 * world.price_sensitivity[customer] + 0.25 * (world.season[week] - 1), 0, 0.9
    )
    rate = np.where(on_sale, np.round(rng.uniform(0.1, 0.35, count) * 20) / 20, 0.0)
    offer_rate = np.array([OFFER_SPECS[t][2] for t in OFFER_TYPES])
    rate = np.where(offer >= 0, offer_rate[np.maximum(offer, 0)], rate)

    lines = 1 + rng.poisson(0.6, count)
    line_order = np.repeat(np.arange(count), lines)
    product = rng.choice(len(prices), len(line_order), p=popularity)
    quantity = 1 + (rng.random(len(line_order)) < 0.12) + (rng.random(len(line_order)) < 0.03)
    unit = np.round(prices[product] * (1 - rate[line_order]), 2)
    total = np.round(np.bincount(line_order, unit * quantity, minlength=count), 2)
    full = np.round(np.bincount(line_order, prices[product] * quantity, minlength=count), 2)
    first_line = np.concatenate([[0], np.cumsum(lines)[:-1]])

    order_ids = world.ids.take("O", count, 7)
    customer_ids = world.customer_ids
    status_names = labels(("completed", "returned", "cancelled"))
    ordered_at = clock.timestamps(seconds)
    fix = np.flatnonzero(rng.random(count) < CORRECTION_SHARE)
    fix_seconds = seconds[fix] + rng.integers(1, 11, len(fix)) * SECONDS_PER_DAY + rng.integers(0, 3600, len(fix))
    keep = (fix_seconds // SECONDS_PER_DAY < world.days) & world.before_deletion(customer[fix], fix_seconds)
    fix, fix_seconds = fix[keep], fix_seconds[keep]
    fix_status = np.where(rng.random(len(fix)) < 0.7, 1, 2)
    rows = np.concatenate([np.arange(count), fix])
    row_status = np.concatenate([status, fix_status])
    row_updated = np.concatenate([seconds, fix_seconds])
    offer_ids = np.concatenate([make_ids("F", len(OFFER_TYPES), 3), [b""]])
    orders = {
        "order_id": order_ids[rows],
        "customer_id": customer_ids[customer[rows]],
        "ordered_at": ordered_at[rows],
        "channel": labels(CHANNELS)[channel[rows]],
        "store_id": np.where(store[rows] >= 0, store_ids(np.maximum(store[rows], 0)), b""),
        "order_total": format_money(total[rows]),
        "discount_amount": format_money(np.maximum(full - total, 0)[rows]),
        "status": status_names[row_status],
        "offer_id": offer_ids[offer[rows]],
        "updated_at": clock.timestamps(row_updated),
    }
    items = {
        "order_item_id": world.ids.take("I", len(line_order), 8),
        "order_id": order_ids[line_order],
        "product_id": make_ids("P", len(prices), 4)[product],
        "quantity": format_ints(quantity),
        "unit_price": format_money(unit),
        "ordered_at": ordered_at[line_order],
    }
    return (
        (orders, row_updated // SECONDS_PER_DAY),
        (items, seconds[line_order] // SECONDS_PER_DAY),
        product[first_line],
        total,
    )


def build_loyalty_tiers(world: World, orders: Orders, clock: Clock) -> Built:
    """A bronze row at signup, then a row whenever completed spend lifts a customer into a higher tier."""
    completed = orders.status == 0
    customer, seconds, spend = orders.customer[completed], orders.seconds[completed], orders.total[completed]
    order = np.lexsort((seconds, customer))
    customer, seconds, spend = customer[order], seconds[order], spend[order]
    starts = np.r_[True, customer[1:] != customer[:-1]]
    cumulative = np.cumsum(spend)
    offset = np.maximum.accumulate(np.where(starts, cumulative - spend, 0))
    points = np.floor(cumulative - offset).astype(np.int64)
    tier = np.searchsorted(np.array(TIER_POINTS), points, side="right")
    previous = np.where(starts, 0, np.r_[0, tier[:-1]])
    change = tier > previous
    n = world.n
    all_customer = np.concatenate([np.arange(n), customer[change]])
    all_seconds = np.concatenate([world.signup_seconds + 30, seconds[change]])
    all_tier = np.concatenate([np.zeros(n, dtype=np.int64), tier[change]])
    all_points = np.concatenate([np.zeros(n, dtype=np.int64), points[change]])
    columns = {
        "customer_id": world.customer_ids[all_customer],
        "tier": labels(LOYALTY_TIERS)[all_tier],
        "valid_from": clock.timestamps(all_seconds),
        "points_balance": format_ints(all_points),
    }
    return columns, all_seconds // SECONDS_PER_DAY
