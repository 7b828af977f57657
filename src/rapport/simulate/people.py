"""Customers with made-up personal data, and their consent events."""

from __future__ import annotations

import numpy as np

from rapport.contract import CHANNELS, CONTACT_CHANNELS
from rapport.simulate.landing import SECONDS_PER_DAY, Clock, format_bools, format_ints, make_ids
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
    dtype=object,
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
    dtype=object,
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
    dtype=object,
)
STREET_KINDS = np.array(["Street", "Road", "Lane", "Avenue", "Way", "Close"], dtype=object)
EMAIL_DOMAINS = np.array(["example.com", "example.org", "example.net", "mail.example"], dtype=object)
STORE_AREAS = np.array([f"{10 + 3 * i:02d}" for i in range(24)], dtype=object)

INITIAL_GRANT_RATES: dict[tuple[str, str], float] = {
    ("analytics", "all"): 0.92,
    ("profiling", "all"): 0.80,
    ("marketing", "phone"): 0.15,
    ("marketing", "post"): 0.25,
}


def store_ids(indices: np.ndarray) -> np.ndarray:
    return np.array([f"S{i + 1:03d}" for i in range(24)], dtype=object)[indices]


def build_customers(world: World, clock: Clock, rng: np.random.Generator) -> tuple[Columns, np.ndarray]:
    """One row per customer, written on the day they signed up."""
    n = world.n
    ids = make_ids("C", n, 6)
    first = FIRST_NAMES[rng.integers(0, len(FIRST_NAMES), n)]
    last = LAST_NAMES[rng.integers(0, len(LAST_NAMES), n)]
    email = np.array(
        [
            f"{f.lower()}.{la.lower()}{i}@{d}"
            for i, (f, la, d) in enumerate(
                zip(first, last, EMAIL_DOMAINS[rng.integers(0, len(EMAIL_DOMAINS), n)], strict=True), start=1
            )
        ],
        dtype=object,
    )
    numbers = rng.choice(90_000_000, n, replace=False) + 10_000_000
    phone = np.array([f"+336{x:08d}" for x in numbers], dtype=object)
    phone = np.where(world.has_phone, phone, "")
    street = np.array(
        [
            f"{no} {s} {k}"
            for no, s, k in zip(
                rng.integers(1, 200, n),
                STREETS[rng.integers(0, len(STREETS), n)],
                STREET_KINDS[rng.integers(0, len(STREET_KINDS), n)],
                strict=True,
            )
        ],
        dtype=object,
    )
    postal = np.array(
        [f"{a}{x:03d}" for a, x in zip(STORE_AREAS[world.home_store], rng.integers(0, 1000, n), strict=True)],
        dtype=object,
    )
    birth_year = np.clip(np.round(rng.normal(1984, 13, n)), 1935, 2008)
    birth = np.where(rng.random(n) < 0.9, format_ints(birth_year), "")
    gender = rng.choice(np.array(["female", "male", "other", "unknown"], dtype=object), n, p=[0.62, 0.3, 0.02, 0.06])
    cum = world.channel_mix[:, :3].cumsum(axis=1) / world.channel_mix[:, :3].sum(axis=1, keepdims=True)
    signup_channel = np.array(CHANNELS, dtype=object)[(rng.random(n)[:, None] > cum).sum(axis=1)]
    card = np.where(
        world.has_loyalty_card,
        np.array([f"LC{x:09d}" for x in rng.choice(900_000_000, n, replace=False)], dtype=object),
        "",
    )
    signed_at = clock.timestamps(world.signup_seconds)
    columns = {
        "customer_id": ids,
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
        purposes.append(np.full(len(idx), purpose, dtype=object))
        channels.append(np.full(len(idx), channel, dtype=object))
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
    keep = when < horizon
    idx, when = idx[keep], when[keep]
    order = np.lexsort((idx, when))
    columns = {
        "consent_id": make_ids("CS", len(order), 8),
        "customer_id": make_ids("C", n, 6)[idx[order]],
        "purpose": np.concatenate(purposes)[keep][order],
        "channel": np.concatenate(channels)[keep][order],
        "is_granted": format_bools(np.concatenate(granted)[keep][order]),
        "recorded_at": clock.timestamps(when[order]),
    }
    return columns, when[order] // SECONDS_PER_DAY
