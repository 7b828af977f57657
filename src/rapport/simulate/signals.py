"""Everything customers do besides ordering: web and app sessions, store visits, calls, messages, community,
NPS answers and reviews."""

from __future__ import annotations

import numpy as np

from rapport.contract import CHANNELS
from rapport.simulate.commerce import PRODUCT_COUNT, CampaignSends, Orders
from rapport.simulate.corpus import ReviewPool
from rapport.simulate.landing import (
    SECONDS_PER_DAY,
    Clock,
    digits,
    format_bools,
    format_ints,
    hex_ids,
    labels,
    make_ids,
)
from rapport.simulate.people import store_ids
from rapport.simulate.world import OFFICE_HOURS, ONLINE_HOURS, STORE_HOURS, World, draw_weekly_events

Columns = dict[str, np.ndarray]
Built = tuple[Columns, np.ndarray]
ANONYMOUS_SESSION_SHARE = 0.3
CALL_REASONS = ("question", "complaint", "cancellation", "order_issue", "return")
CALL_RESOLVE_RATE = np.array([0.9, 0.45, 0.6, 0.7, 0.8])
CALL_MEAN_SECONDS = np.array([240, 600, 480, 420, 360])
WEEK = 7 * SECONDS_PER_DAY


def _week_of(world: World, seconds: np.ndarray) -> np.ndarray:
    return np.clip(seconds // WEEK, 0, world.weeks - 1)


def _sessions(
    world: World,
    rates: np.ndarray,
    rng: np.random.Generator,
    prefix: str,
    event_types: tuple[str, ...],
    type_weights: np.ndarray,
    clock: Clock,
) -> tuple[Columns, np.ndarray, np.ndarray]:
    """Sessions of events on one device per customer; anonymous sessions log in halfway."""
    customer, start = draw_weekly_events(rates, world, rng, ONLINE_HOURS)
    week = _week_of(world, start)
    length = 1 + rng.poisson(1.5 + 3 * world.engagement[customer, week])
    anonymous = rng.random(len(customer)) < ANONYMOUS_SESSION_SHARE
    session = np.repeat(np.arange(len(customer)), length)
    position = np.arange(len(session)) - np.repeat(np.cumsum(length) - length, length)
    login_at = np.where(anonymous, length // 2, -1)[session]
    gaps = rng.integers(5, 150, len(session))
    elapsed = np.cumsum(gaps)
    offsets = elapsed - elapsed[np.cumsum(length) - length][session]
    seconds = start[session] + offsets
    kinds = labels(event_types)[rng.choice(len(event_types), len(session), p=type_weights)]
    kinds = np.where(position == login_at, b"login", kinds)
    has_product = np.isin(kinds, (b"product_view", b"add_to_cart"))
    product = np.where(has_product, make_ids("P", PRODUCT_COUNT, 4)[rng.integers(0, PRODUCT_COUNT, len(session))], b"")
    owner = customer[session]
    known = ~(position < login_at)
    device = hex_ids(prefix.encode(), rng.integers(0, 1 << 40, world.n), 10)
    second_device = hex_ids(prefix.encode(), rng.integers(0, 1 << 40, world.n), 10)
    uses_second = rng.random(len(customer)) < 0.2
    columns = {
        "event_id": world.ids.take(prefix, len(session), 9),
        "device_id": np.where(uses_second[session], second_device[owner], device[owner]),
        "customer_id": np.where(known, world.customer_ids[owner], b""),
        "event_type": kinds,
        "product_id": product,
        "occurred_at": clock.timestamps(seconds),
    }
    return columns, seconds // SECONDS_PER_DAY, owner


def build_web_events(world: World, clock: Clock, rng: np.random.Generator) -> Built:
    mix = world.channel_mix[:, CHANNELS.index("web")]
    base = np.where(world.active, 0.9, 0.03)
    rates = base * world.engagement * (mix[:, None] + 0.1) * world.season[None, :] ** 0.5 * world.signed
    types = ("page_view", "product_view", "add_to_cart", "search", "content_view")
    columns, days, _ = _sessions(world, rates, rng, "W", types, np.array([0.38, 0.3, 0.1, 0.12, 0.1]), clock)
    return columns, days


def build_app_events(world: World, clock: Clock, rng: np.random.Generator) -> Built:
    mix = world.channel_mix[:, CHANNELS.index("app")]
    base = np.where(world.active, 1.1, 0.02)
    rates = (
        base * world.engagement * mix[:, None] * world.season[None, :] ** 0.5 * (world.signed & world.uses_app[:, None])
    )
    types = ("screen_view", "product_view", "add_to_cart", "search", "push_open")
    columns, days, owner = _sessions(world, rates, rng, "M", types, np.array([0.4, 0.3, 0.1, 0.12, 0.08]), clock)
    columns["event_type"] = np.where(
        (columns["event_type"] == b"push_open") & ~world.push_consent[owner], b"screen_view", columns["event_type"]
    )
    platform = np.where(rng.random(world.n) < 0.55, b"ios", b"android")
    columns = {
        "event_id": columns["event_id"],
        "device_id": columns["device_id"],
        "customer_id": columns["customer_id"],
        "platform": platform[owner],
        **{k: columns[k] for k in ("event_type", "product_id", "occurred_at")},
    }
    return columns, days


def build_store_visits(
    world: World, orders: Orders, cards: np.ndarray, clock: Clock, rng: np.random.Generator
) -> Built:
    """Card-scanned visits: browsing visits plus one for every in-store order by a card holder."""
    mix = world.channel_mix[:, CHANNELS.index("store")]
    rates = (
        0.35
        * world.engagement
        * mix[:, None]
        * world.season[None, :]
        * (world.active & world.has_loyalty_card[:, None])
    )
    customer, seconds = draw_weekly_events(rates, world, rng, STORE_HOURS)
    browse_store = np.where(
        rng.random(len(customer)) < 0.85, world.home_store[customer], rng.integers(0, 24, len(customer))
    )
    bought = (orders.channel == CHANNELS.index("store")) & world.has_loyalty_card[orders.customer]
    customer = np.concatenate([customer, orders.customer[bought]])
    seconds = np.concatenate([seconds, np.maximum(orders.seconds[bought] - rng.integers(300, 2400, bought.sum()), 0)])
    store = np.concatenate([browse_store, orders.store[bought]])
    order = np.lexsort((customer, seconds))
    customer, seconds, store = customer[order], seconds[order], store[order]
    dwell = np.clip(np.round(rng.lognormal(np.log(25), 0.6, len(customer))), 1, 240)
    columns = {
        "visit_id": world.ids.take("V", len(customer), 8),
        "loyalty_card_id": cards[customer],
        "store_id": store_ids(store),
        "visited_at": clock.timestamps(seconds),
        "dwell_minutes": np.where(rng.random(len(customer)) < 0.9, format_ints(dwell), b""),
    }
    return columns, seconds // SECONDS_PER_DAY


def build_call_center(
    world: World, orders: Orders, phones: np.ndarray, clock: Clock, rng: np.random.Generator
) -> Built:
    """Calls by phone: questions, complaints as satisfaction sinks, cancellations, and order follow-ups."""
    reachable = world.recently_active & world.has_phone[:, None]
    unhappy = np.clip(0.45 - world.satisfaction, 0, None) / 0.45
    streams = {
        "question": 0.006 * reachable * world.active,
        "complaint": (0.003 + 0.16 * unhappy**1.5) * reachable,
        "cancellation": 0.05 * (world.drifting & (world.satisfaction < 0.25)) * reachable,
    }
    customers, seconds, reasons = [], [], []
    for reason, rates in streams.items():
        c, s = draw_weekly_events(rates, world, rng, OFFICE_HOURS)
        customers.append(c)
        seconds.append(s)
        reasons.append(np.full(len(c), CALL_REASONS.index(reason)))
    for reason, mask in (
        ("order_issue", rng.random(len(orders.customer)) < 0.04),
        ("return", (orders.status == 1) & (rng.random(len(orders.customer)) < 0.3)),
    ):
        mask &= world.has_phone[orders.customer]
        when = orders.seconds[mask] + rng.integers(1, 6, mask.sum()) * SECONDS_PER_DAY
        day_start = when // SECONDS_PER_DAY * SECONDS_PER_DAY
        when = day_start + rng.choice(24, mask.sum(), p=OFFICE_HOURS) * 3600 + rng.integers(0, 3600, mask.sum())
        inside = (when // SECONDS_PER_DAY < world.days) & world.before_deletion(orders.customer[mask], when)
        customers.append(orders.customer[mask][inside])
        seconds.append(when[inside])
        reasons.append(np.full(inside.sum(), CALL_REASONS.index(reason)))
    customer, when, reason = np.concatenate(customers), np.concatenate(seconds), np.concatenate(reasons)
    order = np.lexsort((customer, when))
    customer, when, reason = customer[order], when[order], reason[order]
    resolved = rng.random(len(reason)) < CALL_RESOLVE_RATE[reason]
    handle = CALL_MEAN_SECONDS[reason] * rng.lognormal(0, 0.5, len(reason))
    columns = {
        "contact_id": world.ids.take("H", len(customer), 8),
        "phone": phones[customer],
        "contacted_at": clock.timestamps(when),
        "reason": labels(CALL_REASONS)[reason],
        "is_resolved": format_bools(resolved),
        "handle_seconds": format_ints(np.clip(np.round(handle), 20, 36000)),
    }
    return columns, when // SECONDS_PER_DAY


def _message_sends(
    world: World, consent: np.ndarray, withdrawn_at: np.ndarray, every_weeks: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    weeks = np.arange(0, world.weeks, every_weeks)
    customer, week_index = np.nonzero(consent[:, None] & world.signed[:, weeks])
    sent = weeks[week_index] * WEEK + SECONDS_PER_DAY + 9 * 3600 + rng.integers(0, 1800, len(customer))
    keep = (
        (sent < withdrawn_at[customer])
        & (sent > world.signup_seconds[customer])
        & (sent < world.days * SECONDS_PER_DAY)
    )
    return customer[keep], sent[keep]


def build_interactions(world: World, sends: CampaignSends, clock: Clock, rng: np.random.Generator) -> Built:
    """Newsletters, SMS, campaign messages with opens and clicks, unsubscribes, and social reactions."""
    parts: list[tuple[np.ndarray, np.ndarray, str, str, np.ndarray]] = []
    no_campaign = np.zeros(0, dtype=np.int64)

    def add(
        customer: np.ndarray, seconds: np.ndarray, channel: str, kind: str, campaign: np.ndarray | None = None
    ) -> None:
        parts.append((customer, seconds, channel, kind, np.full(len(customer), -1) if campaign is None else campaign))

    for channel, consent, withdrawn, every, open_rate in (
        ("email", world.email_consent, world.email_withdrawn_at, 1, 0.5),
        ("sms", world.sms_consent, world.sms_withdrawn_at, 2, 0.0),
    ):
        customer, sent = _message_sends(world, consent, withdrawn, every, rng)
        engagement = world.engagement[customer, _week_of(world, sent)]
        add(customer, sent, channel, "sent")
        opened = rng.random(len(customer)) < (0.03 + open_rate * engagement if open_rate else 0.0)
        seen_at = sent + rng.exponential(6 * 3600, len(customer)).astype(np.int64) + 60
        add(customer[opened], seen_at[opened], channel, "opened")
        click_rate = 0.05 + 0.3 * engagement if open_rate else 0.01 + 0.12 * engagement
        clicked = (opened | (open_rate == 0.0)) & (rng.random(len(customer)) < click_rate)
        add(customer[clicked], seen_at[clicked] + 30, channel, "clicked")
        gone = np.flatnonzero(consent & (withdrawn < world.days * SECONDS_PER_DAY))
        add(gone, withdrawn[gone], channel, "unsubscribed")
    add(sends.customer, sends.seconds, "", "sent", sends.campaign)
    seen = sends.seconds + rng.exponential(5 * 3600, len(sends.customer)).astype(np.int64) + 60
    add(sends.customer[sends.opened], seen[sends.opened], "", "opened", sends.campaign[sends.opened])
    add(sends.customer[sends.clicked], seen[sends.clicked] + 45, "", "clicked", sends.campaign[sends.clicked])

    rates = (
        0.3 * world.engagement**2 * world.season[None, :] ** 0.5 * (world.active & world.is_social_follower[:, None])
    )
    customer, seconds = draw_weekly_events(rates, world, rng, ONLINE_HOURS)
    kinds = rng.choice(3, len(customer), p=[0.6, 0.15, 0.25])
    for code, kind in enumerate(("liked", "shared", "commented")):
        add(customer[kinds == code], seconds[kinds == code], "social", kind)

    customer = np.concatenate([p[0] for p in parts])
    seconds = np.concatenate([p[1] for p in parts])
    campaign = np.concatenate([p[4] for p in parts] + [no_campaign])
    channel = np.concatenate([np.full(len(p[0]), p[2].encode(), dtype="S6") for p in parts])
    campaign_channel = np.concatenate([sends.channel, sends.channel[sends.opened], sends.channel[sends.clicked]])
    channel[channel == b""] = campaign_channel
    kind = np.concatenate([np.full(len(p[0]), p[3].encode(), dtype="S12") for p in parts])
    keep = (seconds < world.days * SECONDS_PER_DAY) & world.before_deletion(customer, seconds)
    order = np.lexsort((customer[keep], seconds[keep]))
    customer, seconds, campaign, channel, kind = (a[keep][order] for a in (customer, seconds, campaign, channel, kind))
    columns = {
        "interaction_id": world.ids.take("E", len(customer), 9),
        "customer_id": world.customer_ids[customer],
        "channel": channel,
        "interaction_type": kind,
        "campaign_id": np.where(campaign >= 0, digits(np.maximum(campaign, 0) + 1, 4, b"K"), b""),
        "occurred_at": clock.timestamps(seconds),
    }
    return columns, seconds // SECONDS_PER_DAY


def build_community_activity(world: World, clock: Clock, rng: np.random.Generator) -> Built:
    rates = 1.2 * world.engagement**2 * (world.active & world.is_community_member[:, None])
    customer, seconds = draw_weekly_events(rates, world, rng, ONLINE_HOURS)
    kinds = labels(("like", "comment", "post", "event_attendance"))[
        rng.choice(4, len(customer), p=[0.45, 0.3, 0.17, 0.08])
    ]
    columns = {
        "activity_id": world.ids.take("Y", len(customer), 8),
        "customer_id": world.customer_ids[customer],
        "activity_type": kinds,
        "occurred_at": clock.timestamps(seconds),
    }
    return columns, seconds // SECONDS_PER_DAY


def _after_orders(
    world: World, orders: Orders, chosen: np.ndarray, min_days: int, max_days: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    index = np.flatnonzero(chosen)
    when = orders.seconds[index] + rng.integers(min_days, max_days + 1, len(index)) * SECONDS_PER_DAY
    when += rng.integers(-3 * 3600, 3 * 3600, len(index))
    inside = (when < world.days * SECONDS_PER_DAY) & world.before_deletion(orders.customer[index], when)
    return orders.customer[index][inside], when[inside], index[inside]


def build_nps_surveys(world: World, orders: Orders, clock: Clock, rng: np.random.Generator) -> Built:
    """Post-purchase surveys and a quarterly relationship survey; scores follow satisfaction."""
    after_customer, after_seconds, _ = _after_orders(
        world, orders, (orders.status == 0) & (rng.random(len(orders.customer)) < 0.08), 2, 6, rng
    )
    quarterly_weeks = np.arange(6, world.weeks, 13)
    reach = world.recently_active[:, quarterly_weeks] & (rng.random((world.n, len(quarterly_weeks))) < 0.1)
    answers = reach & (rng.random(reach.shape) < 0.2 + 0.4 * world.engagement_base[:, None])
    customer, quarter = np.nonzero(answers)
    seconds = quarterly_weeks[quarter] * WEEK + rng.integers(0, 10 * SECONDS_PER_DAY, len(customer))
    customer = np.concatenate([after_customer, customer])
    seconds = np.concatenate([after_seconds, seconds])
    keep = (
        (seconds < world.days * SECONDS_PER_DAY)
        & (seconds > world.signup_seconds[customer])
        & world.before_deletion(customer, seconds)
    )
    customer, seconds = customer[keep], seconds[keep]
    order = np.lexsort((customer, seconds))
    customer, seconds = customer[order], seconds[order]
    satisfaction = world.satisfaction[customer, _week_of(world, seconds)]
    score = np.clip(np.round(10 * satisfaction + rng.normal(0.3, 1.3, len(customer))), 0, 10)
    columns = {
        "survey_id": world.ids.take("N", len(customer), 8),
        "customer_id": world.customer_ids[customer],
        "answered_at": clock.timestamps(seconds),
        "score": format_ints(score),
    }
    return columns, seconds // SECONDS_PER_DAY


def build_reviews(world: World, orders: Orders, pool: ReviewPool, clock: Clock, rng: np.random.Generator) -> Built:
    """Reviews of bought products; the stars follow satisfaction and the text is a corpus review with those stars."""
    week = _week_of(world, orders.seconds)
    unhappy = world.satisfaction[orders.customer, week] < 0.35
    chosen = (orders.status != 2) & (rng.random(len(orders.customer)) < 0.05 + 0.15 * unhappy)
    customer, seconds, index = _after_orders(world, orders, chosen, 3, 20, rng)
    order = np.lexsort((customer, seconds))
    customer, seconds, index = customer[order], seconds[order], index[order]
    satisfaction = world.satisfaction[customer, _week_of(world, seconds)]
    rating = np.clip(np.round(1.0 + 4.4 * satisfaction + rng.normal(0, 0.6, len(customer))), 1, 5).astype(np.int64)
    _, titles, texts = pool.draw(rating, rng)
    columns = {
        "review_id": world.ids.take("R", len(customer), 7),
        "customer_id": world.customer_ids[customer],
        "product_id": make_ids("P", PRODUCT_COUNT, 4)[orders.first_product[index]],
        "reviewed_at": clock.timestamps(seconds),
        "rating": format_ints(rating),
        "title": titles,
        "review_text": texts,
    }
    return columns, seconds // SECONDS_PER_DAY
