"""Customers with made-up personal data, their consent events and their requests to be forgotten."""

from __future__ import annotations

import numpy as np

from rapport.contract import CHANNELS, CONTACT_CHANNELS, PRIVACY_CHANNELS
from rapport.simulate.landing import (
    SECONDS_PER_DAY,
    Clock,
    digits,
    format_bools,
    format_ints,
    join,
    labels,
)
from rapport.simulate.world import World

Columns = dict[str, np.ndarray]

FIRST_NAMES = np.array(
    [
        "Alba",
        "Bruno",
        "Carla",
        "Dario",
        "Elena",
        "Fabio",
        "Greta",
        "Hugo",
        "Iris",
        "Jonas",
        "Kira",
        "Lino",
        "Mara",
        "Nico",
        "Olga",
        "Pavel",
        "Quinn",
        "Rosa",
        "Silas",
        "Tilda",
        "Ugo",
        "Vera",
        "Wim",
        "Xenia",
        "Yara",
        "Zeno",
        "Ada",
        "Bram",
        "Cleo",
        "Enzo",
        "Frida",
        "Ivo",
        "Lotte",
        "Milo",
        "Nora",
        "Otto",
        "Pia",
        "Ruben",
        "Sanne",
        "Teo",
    ],
    dtype="S",
)
LAST_NAMES = np.array(
    [
        "Almer",
        "Brandt",
        "Castel",
        "Dorn",
        "Eskes",
        "Falk",
        "Gorran",
        "Hollis",
        "Ingram",
        "Jessop",
        "Kessel",
        "Lindqvist",
        "Marlow",
        "Norberg",
        "Oakes",
        "Pellan",
        "Quist",
        "Rainer",
        "Stroud",
        "Tamsin",
        "Ulver",
        "Vance",
        "Wendt",
        "Yarrow",
        "Zeller",
        "Arden",
        "Bexley",
        "Corvin",
        "Delmar",
        "Ferrant",
    ],
    dtype="S",
)
STREETS = np.array(
    [
        "Linden",
        "Harbour",
        "Mill",
        "Orchard",
        "Station",
        "Chapel",
        "Meadow",
        "Quarry",
        "Willow",
        "Beacon",
        "Foundry",
        "Granary",
        "Heron",
        "Juniper",
        "Kestrel",
        "Lantern",
    ],
    dtype="S",
)
STREET_KINDS = labels(("Street", "Road", "Lane", "Avenue", "Way", "Close"))
EMAIL_DOMAINS = labels(("example.com", "example.org", "example.net", "mail.example"))
STORE_AREAS = labels([f"{10 + 3 * i:02d}" for i in range(24)])
STORE_IDS = labels([f"S{i + 1:03d}" for i in range(24)])
# Phone numbers and loyalty cards are a bijection of the customer number (unique across blocks): number * a + b
# modulo the number space, with a coprime to it.
PHONE_SPACE, PHONE_FACTOR, PHONE_SHIFT = 90_000_000, 7_919_027, 13_370_011
CARD_SPACE, CARD_FACTOR, CARD_SHIFT = 900_000_000, 387_420_489 + 2, 51_234_567
GENDERS = labels(("female", "male", "other", "unknown"))

INITIAL_GRANT_RATES: dict[tuple[str, str], float] = {
    ("analytics", "all"): 0.92,
    ("profiling", "all"): 0.80,
    ("marketing", "phone"): 0.15,
    ("marketing", "post"): 0.25,
}


def store_ids(indices: np.ndarray) -> np.ndarray:
    return STORE_IDS[indices]


def build_customers(world: World, clock: Clock, rng: np.random.Generator) -> tuple[Columns, np.ndarray]:
    """One row per customer, written on the day they signed up."""
    n = world.n
    number = world.first_customer + np.arange(1, n + 1, dtype=np.int64)
    first = FIRST_NAMES[rng.integers(0, len(FIRST_NAMES), n)]
    last = LAST_NAMES[rng.integers(0, len(LAST_NAMES), n)]
    domain = EMAIL_DOMAINS[rng.integers(0, len(EMAIL_DOMAINS), n)]
    email = join(np.char.lower(first), b".", np.char.lower(last), number.astype("S"), b"@", domain)
    phone = digits((number * PHONE_FACTOR + PHONE_SHIFT) % PHONE_SPACE + 10_000_000, 8, b"+336")
    phone = np.where(world.has_phone, phone, b"")
    street = join(
        rng.integers(1, 200, n).astype("S"),
        b" ",
        STREETS[rng.integers(0, len(STREETS), n)],
        b" ",
        STREET_KINDS[rng.integers(0, len(STREET_KINDS), n)],
    )
    postal = join(STORE_AREAS[world.home_store], digits(rng.integers(0, 1000, n), 3))
    birth_year = np.clip(np.round(rng.normal(1984, 13, n)), 1935, 2008)
    birth = np.where(rng.random(n) < 0.9, format_ints(birth_year), b"")
    gender = GENDERS[rng.choice(len(GENDERS), n, p=[0.62, 0.3, 0.02, 0.06])]
    cum = world.channel_mix[:, :3].cumsum(axis=1) / world.channel_mix[:, :3].sum(axis=1, keepdims=True)
    signup_channel = labels(CHANNELS)[(rng.random(n)[:, None] > cum).sum(axis=1)]
    card = digits((number * CARD_FACTOR + CARD_SHIFT) % CARD_SPACE, 9, b"LC")
    card = np.where(world.has_loyalty_card, card, b"")
    signed_at = clock.timestamps(world.signup_seconds)
    columns = {
        "customer_id": world.customer_ids,
        "email": email,
        "phone": phone,
        "first_name": first,
        "last_name": last,
        "street_address": street,
        "postal_code": postal,
        "birth_year": birth,
        "gender": gender,
        "signup_at": signed_at,
        "signup_channel": signup_channel,
        "loyalty_card_id": card,
        "updated_at": signed_at,
    }
    return columns, world.signup_seconds // SECONDS_PER_DAY


def build_consents(world: World, clock: Clock, rng: np.random.Generator) -> tuple[Columns, np.ndarray]:
    """A grant or refusal per purpose and channel at signup, then withdrawals (unsubscribes among them)."""
    n = world.n
    at_signup = world.signup_seconds + 30
    after_start = np.maximum(world.signup_seconds, 0)
    marketing = {"email": world.email_consent, "sms": world.sms_consent, "push": world.push_consent}
    customers, purposes, channels, granted, seconds = [], [], [], [], []

    def add(idx: np.ndarray, purpose: str, channel: str, is_granted: np.ndarray, when: np.ndarray) -> None:
        customers.append(idx)
        purposes.append(np.full(len(idx), purpose.encode()))
        channels.append(np.full(len(idx), channel.encode()))
        granted.append(is_granted)
        seconds.append(when)

    everyone = np.arange(n)
    horizon = world.days * SECONDS_PER_DAY
    for channel in CONTACT_CHANNELS:
        key = ("marketing", channel)
        given = marketing[channel] if channel in marketing else rng.random(n) < INITIAL_GRANT_RATES[key]
        add(everyone, "marketing", channel, given, at_signup)
        if channel in ("email", "sms"):
            withdrawn = world.email_withdrawn_at if channel == "email" else world.sms_withdrawn_at
            out = np.flatnonzero(given & (withdrawn < horizon))
            when = withdrawn[out]
        elif channel == "push":
            out, when = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        else:
            draw = after_start + rng.exponential(5 * 365 * SECONDS_PER_DAY, n).astype(np.int64)
            out = np.flatnonzero(given & (draw < horizon))
            when = draw[out]
        add(out, "marketing", channel, np.zeros(len(out), dtype=bool), when)
    for purpose in ("analytics", "profiling"):
        given = rng.random(n) < INITIAL_GRANT_RATES[(purpose, "all")]
        add(everyone, purpose, "all", given, at_signup)
        draw = after_start + rng.exponential(8 * 365 * SECONDS_PER_DAY, n).astype(np.int64)
        out = np.flatnonzero(given & (draw < horizon))
        add(out, purpose, "all", np.zeros(len(out), dtype=bool), draw[out])

    idx = np.concatenate(customers)
    when = np.concatenate(seconds)
    keep = (when < horizon) & world.before_deletion(idx, when)
    idx, when = idx[keep], when[keep]
    order = np.lexsort((idx, when))
    columns = {
        "consent_id": world.ids.take("CS", len(order), 8),
        "customer_id": world.customer_ids[idx[order]],
        "purpose": np.concatenate(purposes)[keep][order],
        "channel": np.concatenate(channels)[keep][order],
        "is_granted": format_bools(np.concatenate(granted)[keep][order]),
        "recorded_at": clock.timestamps(when[order]),
    }
    return columns, when[order] // SECONDS_PER_DAY


REPEAT_REQUEST_SHARE = 0.1


def build_deletion_requests(world: World, clock: Clock, rng: np.random.Generator) -> tuple[Columns, np.ndarray]:
    """A request per customer who asked to be forgotten; some ask again days later, when already forgotten."""
    horizon = world.days * SECONDS_PER_DAY
    asked = np.flatnonzero(world.deleted_at < horizon)
    again = asked[rng.random(len(asked)) < REPEAT_REQUEST_SHARE]
    customer = np.concatenate([asked, again])
    seconds = np.concatenate(
        [world.deleted_at[asked], world.deleted_at[again] + rng.integers(2, 30, len(again)) * SECONDS_PER_DAY]
    )
    keep = seconds < horizon
    order = np.lexsort((customer[keep], seconds[keep]))
    customer, seconds = customer[keep][order], seconds[keep][order]
    columns = {
        "request_id": world.ids.take("DR", len(customer), 6),
        "customer_id": world.customer_ids[customer],
        "requested_at": clock.timestamps(seconds),
        "channel": labels(PRIVACY_CHANNELS)[rng.integers(0, len(PRIVACY_CHANNELS), len(customer))],
    }
    return columns, seconds // SECONDS_PER_DAY
