"""Latent customer state, simulated in weekly steps: the hidden truth every observed table follows from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property

import numpy as np

from rapport.contract import CHANNELS
from rapport.simulate.landing import SECONDS_PER_DAY, IdSequence, make_ids

PRE_START_SHARE = 0.35
PRE_START_MAX_DAYS = 730
EMAIL_CONSENT_RATE = 0.60
SMS_CONSENT_RATE = 0.35
# Weekly chance that a customer asks to be forgotten: ~2% over two years, more among unhappy ones.
DELETION_HAZARD = 0.0002
DELETION_HAZARD_UNHAPPY = 0.003
NEVER = np.iinfo(np.int64).max // 2


@dataclass
class World:
    """One block of customers: traits (shape ``(n,)``) and weekly state (shape ``(n, weeks)``).

    Customer ``i`` of the block is customer number ``first_customer + i + 1`` of the data set; ``ids``
    hands out event ids that stay unique across blocks.
    """

    start: date
    days: int
    weeks: int
    signup_seconds: np.ndarray
    signup_week: np.ndarray
    base_satisfaction: np.ndarray
    order_rate: np.ndarray
    price_sensitivity: np.ndarray
    engagement_base: np.ndarray
    channel_mix: np.ndarray
    has_phone: np.ndarray
    has_loyalty_card: np.ndarray
    is_community_member: np.ndarray
    is_social_follower: np.ndarray
    uses_app: np.ndarray
    home_store: np.ndarray
    season: np.ndarray
    satisfaction: np.ndarray
    slow_satisfaction: np.ndarray
    engagement: np.ndarray
    drifting: np.ndarray
    signed: np.ndarray
    active: np.ndarray
    churn_week: np.ndarray
    email_consent: np.ndarray
    sms_consent: np.ndarray
    push_consent: np.ndarray
    email_withdrawn_week: np.ndarray
    sms_withdrawn_week: np.ndarray
    email_withdrawn_at: np.ndarray
    sms_withdrawn_at: np.ndarray
    deleted_at: np.ndarray
    first_customer: int = 0
    ids: IdSequence = field(default_factory=IdSequence)

    @property
    def n(self) -> int:
        return len(self.signup_seconds)

    @cached_property
    def customer_ids(self) -> np.ndarray:
        return make_ids("C", self.n, 6, self.first_customer + 1)

    @property
    def recently_active(self) -> np.ndarray:
        """Active, or churned less than four weeks ago (complaints and cancellations still come in), until a
        deletion request."""
        weeks = np.arange(self.weeks)[None, :]
        deleted_week = np.minimum(self.deleted_at // (7 * SECONDS_PER_DAY), self.weeks)
        return self.signed & (weeks < self.churn_week[:, None] + 4) & (weeks < deleted_week[:, None])

    def before_deletion(self, customer: np.ndarray, seconds: np.ndarray) -> np.ndarray:
        """Which events happen before their customer asked to be forgotten (nobody acts after that)."""
        return seconds < self.deleted_at[customer]


def weekly_season(start: date, weeks: int) -> np.ndarray:
    """Demand multiplier per week: Black Friday and December peaks, January sales, a quiet late summer."""
    factors = np.empty(weeks * 7)
    for d in range(weeks * 7):
        day = start + timedelta(days=d)
        doy = day.timetuple().tm_yday
        factor = 1.0 + 0.9 * np.exp(-(((doy - 333) / 9.0) ** 2))
        if day.month == 12 and day.day <= 22:
            factor += 0.6
        if day.month == 1 and day.day <= 20:
            factor += 0.25
        if day.month in (8, 9):
            factor -= 0.15
        factors[d] = factor
    return factors.reshape(weeks, 7).mean(axis=1)


def _signup_days(n: int, days: int, rng: np.random.Generator) -> np.ndarray:
    pre = rng.random(n) < PRE_START_SHARE
    before = -rng.integers(1, PRE_START_MAX_DAYS + 1, n)
    during = np.floor(days * rng.random(n) ** 0.85).astype(np.int64)
    return np.where(pre, before, during)


def simulate_world(
    n: int, start: date, days: int, rng: np.random.Generator, first_customer: int = 0, ids: IdSequence | None = None
) -> World:
    """Draw customer traits and evolve satisfaction, engagement, drift, churn, consent and deletion week by week."""
    weeks = -(-days // 7)
    signup_day = _signup_days(n, days, rng)
    signup_seconds = signup_day * SECONDS_PER_DAY + rng.integers(7 * 3600, 23 * 3600, n)
    signup_week = np.maximum(signup_day // 7, 0)

    base = np.clip(rng.normal(0.70, 0.11, n), 0.35, 0.95)
    order_rate = np.clip(rng.lognormal(np.log(0.18), 0.6, n), 0.02, 0.8)
    price_sensitivity = rng.beta(2.0, 3.0, n)
    engagement_base = rng.beta(2.5, 2.5, n)
    channel_mix = rng.dirichlet(np.array([2.0, 1.4, 1.6, 0.12]), n)
    uses_app = channel_mix[:, CHANNELS.index("app")] > 0.15
    has_loyalty_card = rng.random(n) < 0.55 + 0.6 * channel_mix[:, CHANNELS.index("store")]
    season = weekly_season(start, weeks)

    tenure_weeks = np.maximum(-signup_day, 0) / 7
    alive = ~(rng.random(n) < 0.25 * tenure_weeks / (PRE_START_MAX_DAYS / 7))
    churn_week = np.where(alive, weeks, 0)
    email_consent = rng.random(n) < EMAIL_CONSENT_RATE
    sms_consent = rng.random(n) < SMS_CONSENT_RATE
    email_withdrawn_week = np.full(n, weeks)
    sms_withdrawn_week = np.full(n, weeks)
    email_now, sms_now = email_consent.copy(), sms_consent.copy()
    deletion_week = np.full(n, weeks)

    drift_rate = 0.011 * (0.5 + price_sensitivity) * (1.4 - engagement_base)
    satisfaction = np.empty((n, weeks))
    slow_satisfaction = np.empty((n, weeks))
    drifting = np.zeros((n, weeks), dtype=bool)
    signed = np.zeros((n, weeks), dtype=bool)
    active = np.zeros((n, weeks), dtype=bool)
    s = np.clip(base + rng.normal(0, 0.04, n), 0, 1)
    slow = s.copy()
    is_drifting = np.zeros(n, dtype=bool)
    for t in range(weeks):
        signed_now = signup_week <= t
        active_now = signed_now & alive
        starts = active_now & ~is_drifting & (rng.random(n) < drift_rate)
        recovers = is_drifting & (rng.random(n) < 0.035)
        is_drifting = (is_drifting | starts) & ~recovers
        target = np.where(is_drifting, np.maximum(base - 0.6, 0.03), base)
        s = np.clip(s + 0.3 * (target - s) + rng.normal(0, 0.035, n), 0, 1)
        slow = slow + 0.07 * (s - slow)
        satisfaction[:, t], slow_satisfaction[:, t] = s, slow
        drifting[:, t], signed[:, t], active[:, t] = is_drifting, signed_now, active_now

        lagged = satisfaction[:, max(t - 2, 0)]
        hazard = 0.0007 + 0.08 / (1.0 + np.exp((lagged - 0.28) / 0.05))
        churns = active_now & (rng.random(n) < hazard)
        alive &= ~churns
        churn_week[churns] = t + 1

        unhappy = np.clip(0.5 - s, 0, None)
        forgets = active_now & (rng.random(n) < DELETION_HAZARD + DELETION_HAZARD_UNHAPPY * unhappy)
        alive &= ~forgets
        churn_week[forgets] = t + 1
        deletion_week[forgets] = t
        email_out = signed_now & email_now & (rng.random(n) < 0.0008 + 0.05 * unhappy + 0.001 * (1 - engagement_base))
        sms_out = signed_now & sms_now & (rng.random(n) < 0.0015 + 0.04 * unhappy)
        email_withdrawn_week[email_out] = t
        sms_withdrawn_week[sms_out] = t
        email_now &= ~email_out
        sms_now &= ~sms_out

    ratio = np.clip(satisfaction / base[:, None], 0, 1.3)
    engagement = np.clip(engagement_base[:, None] * (0.25 + 0.75 * ratio), 0, 1)
    engagement = np.where(active, engagement, 0.05 * engagement)
    email_withdrawn_at = _withdrawal_seconds(email_withdrawn_week, signup_seconds, weeks, rng)
    sms_withdrawn_at = _withdrawal_seconds(sms_withdrawn_week, signup_seconds, weeks, rng)
    deleted_at = _withdrawal_seconds(deletion_week, signup_seconds, weeks, rng)
    email_withdrawn_week = np.minimum(email_withdrawn_week, deletion_week)
    sms_withdrawn_week = np.minimum(sms_withdrawn_week, deletion_week)
    return World(
        start=start,
        days=days,
        weeks=weeks,
        signup_seconds=signup_seconds,
        signup_week=signup_week,
        base_satisfaction=base,
        order_rate=order_rate,
        price_sensitivity=price_sensitivity,
        engagement_base=engagement_base,
        channel_mix=channel_mix,
        has_phone=rng.random(n) < 0.92,
        has_loyalty_card=has_loyalty_card,
        is_community_member=rng.random(n) < 0.08 + 0.35 * engagement_base,
        is_social_follower=rng.random(n) < 0.15 + 0.4 * engagement_base,
        uses_app=uses_app,
        home_store=rng.integers(0, 24, n),
        season=season,
        satisfaction=satisfaction,
        slow_satisfaction=slow_satisfaction,
        engagement=engagement,
        drifting=drifting,
        signed=signed,
        active=active,
        churn_week=churn_week,
        email_consent=email_consent,
        sms_consent=sms_consent,
        push_consent=rng.random(n) < np.where(uses_app, 0.6, 0.2),
        email_withdrawn_week=email_withdrawn_week,
        sms_withdrawn_week=sms_withdrawn_week,
        email_withdrawn_at=np.minimum(email_withdrawn_at, deleted_at),
        sms_withdrawn_at=np.minimum(sms_withdrawn_at, deleted_at),
        deleted_at=deleted_at,
        first_customer=first_customer,
        ids=ids if ids is not None else IdSequence(),
    )


def _withdrawal_seconds(
    week: np.ndarray, signup_seconds: np.ndarray, weeks: int, rng: np.random.Generator
) -> np.ndarray:
    """A moment in the withdrawal week, after signup; a far-future sentinel for no withdrawal."""
    when = np.maximum(
        week * 7 * SECONDS_PER_DAY + rng.integers(0, 7 * SECONDS_PER_DAY, len(week)), signup_seconds + 3600
    )
    return np.where(week < weeks, when, NEVER)


def draw_weekly_events(
    rates: np.ndarray, world: World, rng: np.random.Generator, hours: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson counts per customer and week, spread over days and hours; returns (customer index, seconds) by time."""
    counts = rng.poisson(np.clip(rates, 0, None))
    customer, week = np.nonzero(counts)
    reps = counts[customer, week]
    customer, week = np.repeat(customer, reps), np.repeat(week, reps)
    day = week * 7 + rng.integers(0, 7, len(week))
    hour = rng.choice(24, len(week), p=hours)
    seconds = day * SECONDS_PER_DAY + hour * 3600 + rng.integers(0, 3600, len(week))
    keep = (day < world.days) & (seconds > world.signup_seconds[customer]) & world.before_deletion(customer, seconds)
    customer, seconds = customer[keep], seconds[keep]
    order = np.lexsort((customer, seconds))
    return customer[order], seconds[order]


def _hour_profile(peaks: list[tuple[int, int, float]], night: float = 0.2) -> np.ndarray:
    weights = np.full(24, night)
    for first, last, weight in peaks:
        weights[first : last + 1] += weight
    return weights / weights.sum()


ONLINE_HOURS = _hour_profile([(7, 22, 1.0), (19, 22, 1.2), (12, 13, 0.6)])
STORE_HOURS = _hour_profile([(9, 19, 3.0), (12, 14, 1.5), (17, 18, 1.5)], night=0.0)
OFFICE_HOURS = _hour_profile([(8, 19, 4.0)], night=0.0)
