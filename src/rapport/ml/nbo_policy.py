"""The next-best-offer decision policy: which offer, if any, each customer gets, and the reason why.

One rule decides (``decide_offers``): an offer is worth sending when the response it *causes* is worth more
than it costs,

    expected incremental value = uplift x value at stake - cost

where the value at stake is the customer's predicted 365-day value (``ml.clv_scores``) or, without it, the
365-day spend (floored at a typical order), times the offer's margin, and for retention offers weighted by
the churn risk (the value is only at stake if the customer is leaving). The cost is the channel's send cost
plus the offer's unit cost for every expected redemption, incremental or not.

Before any value is computed, hard rules remove a (customer, offer) pair: consent (profiling to score at
all, marketing on the offer's channel), the offer's eligibility rules, its cool-down since the last send of
the same offer type, and the contact-fatigue limit. A stable, hashed share of customers is held out and gets
nothing. The remaining best offers are allocated greedily by value under per-channel capacity and the
campaign budget. Every exclusion is kept with its reason, so the suppression list says who and why.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

NO_PROFILING_CONSENT = "no_profiling_consent"
NO_MARKETING_CONSENT = "no_marketing_consent"
NO_CHANNEL_CONSENT = "no_channel_consent"
NOT_ELIGIBLE = "not_eligible"
COOL_DOWN = "cool_down"
FATIGUE = "fatigue"
HOLDOUT = "holdout"
NO_POSITIVE_VALUE = "no_positive_value"
CAPACITY = "capacity"
BUDGET = "budget"


@dataclass(frozen=True)
class OfferRules:
    """Business rules of one offer type from the catalog."""

    offer_type: str
    margin: float
    cool_down_days: int
    is_retention: bool = False
    eligibility: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelRules:
    capacity: int
    send_cost: float


@dataclass(frozen=True)
class OfferCatalog:
    """The offer catalog: rules per offer type, capacity and cost per channel, and the campaign budget."""

    offers: dict[str, OfferRules]
    channels: dict[str, ChannelRules]
    campaign_budget: float


@dataclass(frozen=True)
class PolicySettings:
    """The policy's knobs from ``ml/nbo/config.yaml`` (``policy:``)."""

    holdout_share: float = 0.1
    holdout_salt: str = "rapport-nbo-holdout"
    fatigue_window_days: int = 14
    max_contacts: int = 3
    value_floor: float = 60.0
    default_churn_risk: float = 0.5
    top_n: int = 3

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PolicySettings:
        known = set(cls.__dataclass_fields__)
        policy = config.get("policy", {})
        unknown = sorted(set(policy) - known - {"catalog"})
        if unknown:
            raise ValueError(f"ml/nbo/config.yaml policy: unknown keys {unknown}; known: {sorted(known)}")
        return cls(**{key: value for key, value in policy.items() if key in known})


def load_offer_catalog(path: Path) -> OfferCatalog:
    """Read the offer catalog; raise naming the file and the offer or channel that is wrong."""
    if not path.exists():
        raise FileNotFoundError(f"no offer catalog at {path}")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    missing = [key for key in ("offers", "channels", "campaign_budget") if key not in raw]
    if missing:
        raise ValueError(f"{path} lacks {missing}")
    offers = {}
    for offer_type, rules in raw["offers"].items():
        try:
            offers[offer_type] = OfferRules(offer_type=offer_type, **rules)
        except TypeError as exc:
            raise ValueError(f"{path}: offer {offer_type!r}: {exc}") from exc
        if not 0 <= offers[offer_type].margin <= 1:
            raise ValueError(f"{path}: offer {offer_type!r}: margin must be within 0..1")
    channels = {
        name: ChannelRules(int(spec["capacity"]), float(spec["send_cost"])) for name, spec in raw["channels"].items()
    }
    return OfferCatalog(offers=offers, channels=channels, campaign_budget=float(raw["campaign_budget"]))


def holdout_mask(customer_ids: pd.Series, share: float, salt: str) -> np.ndarray:
    """True for a stable, salted-hash ``share`` of customers: the same customers stay out run after run."""
    buckets = customer_ids.astype(str).map(
        lambda cid: int(hashlib.sha256(f"{salt}:{cid}".encode()).hexdigest()[:8], 16) % 10_000
    )
    return (buckets < round(share * 10_000)).to_numpy()


def _rule_violations(pairs: pd.DataFrame, catalog: OfferCatalog) -> pd.Series:
    """Per pair, the first broken eligibility rule of its offer type as text ("" when none)."""
    violations = pd.Series("", index=pairs.index, dtype=object)
    for offer_type, rules in catalog.offers.items():
        of_type = pairs["offer_type"] == offer_type
        for feature, bounds in rules.eligibility.items():
            values = pairs[feature].astype("float64")
            for bound, broken in (
                ("min", values < bounds.get("min", -np.inf)),
                ("max", values > bounds.get("max", np.inf)),
            ):
                if bound not in bounds:
                    continue
                hit = of_type & (broken | values.isna()) & (violations == "")
                violations[hit] = [f"{feature} {v:g} outside {bound} {bounds[bound]:g}" for v in values[hit]]
    return violations


def suppression_reasons(
    pairs: pd.DataFrame, catalog: OfferCatalog, settings: PolicySettings
) -> tuple[pd.Series, pd.Series]:
    """The first hard rule each (customer, offer) pair breaks, as a code and a detail ("" when none).

    Rules in order: profiling consent, marketing consent, channel consent, unknown offer type, the offer's
    eligibility rules, its cool-down, the contact-fatigue limit.
    """
    cool_down = pairs["offer_type"].map({t: r.cool_down_days for t, r in catalog.offers.items()})
    since = pairs["days_since_same_offer"].astype("float64")
    contacts = pairs["contacts_in_window"].fillna(0).astype(int)
    rule_violations = _rule_violations(pairs, catalog)
    checks = [
        (~pairs["has_profiling_consent"].fillna(False).astype(bool), NO_PROFILING_CONSENT, "no profiling consent"),
        (~pairs["is_marketing_consented"].fillna(False).astype(bool), NO_MARKETING_CONSENT, "no marketing consent"),
        (
            ~pairs["is_channel_consented"].fillna(False).astype(bool),
            NO_CHANNEL_CONSENT,
            "no consent on " + pairs["channel"].astype(str),
        ),
        (cool_down.isna(), NOT_ELIGIBLE, "offer type not in the catalog"),
        (rule_violations != "", NOT_ELIGIBLE, rule_violations),
        (
            since < cool_down,
            COOL_DOWN,
            "last "
            + pairs["offer_type"].astype(str)
            + " "
            + since.fillna(-1).astype(int).astype(str)
            + " d ago (cool-down "
            + cool_down.fillna(0).astype(int).astype(str)
            + " d)",
        ),
        (
            contacts >= settings.max_contacts,
            FATIGUE,
            contacts.astype(str) + f" contacts in {settings.fatigue_window_days} d (max {settings.max_contacts})",
        ),
    ]
    code = pd.Series("", index=pairs.index, dtype=object)
    detail = pd.Series("", index=pairs.index, dtype=object)
    for broken, reason, text in checks:
        hit = broken.to_numpy() & (code == "").to_numpy()
        code[hit] = reason
        detail[hit] = text[hit] if isinstance(text, pd.Series) else text
    return code, detail


def expected_incremental_value(pairs: pd.DataFrame, catalog: OfferCatalog, settings: PolicySettings) -> pd.DataFrame:
    """Value at stake, cost and expected incremental value per pair (columns added to a copy)."""
    rules = pairs["offer_type"].map(catalog.offers)
    margin = rules.map(lambda r: r.margin).astype("float64")
    is_retention = rules.map(lambda r: r.is_retention).astype(bool)
    clv = pairs["predicted_clv_365d"].astype("float64")
    spend = pairs["monetary_365d"].astype("float64").fillna(0.0).clip(lower=settings.value_floor)
    lapsed = ~pairs["is_active_365d"].fillna(False).astype(bool)
    churn_risk = (
        pairs["churn_probability"]
        .astype("float64")
        .fillna(pd.Series(np.where(lapsed, 1.0, settings.default_churn_risk), index=pairs.index))
    )
    send_cost = pairs["channel"].map({name: c.send_cost for name, c in catalog.channels.items()}).astype("float64")
    out = pairs.copy()
    out["value_source"] = np.where(clv.notna(), "clv", "spend_365d")
    out["churn_risk"] = churn_risk.where(is_retention)
    out["value_at_stake"] = clv.fillna(spend) * margin * churn_risk.where(is_retention, 1.0)
    out["cost"] = send_cost.fillna(0.0) + pairs["unit_cost"].astype("float64").fillna(0.0) * pairs["propensity"]
    out["expected_value"] = pairs["uplift"] * out["value_at_stake"] - out["cost"]
    return out


def allocate(ranked: pd.DataFrame, catalog: OfferCatalog) -> tuple[pd.Series, pd.Series]:
    """Greedy by expected value: each customer gets at most one positive-value offer on a channel with
    capacity left, while the summed cost stays within the budget. Returns ``is_selected`` per row and, per
    customer left without an offer, what stopped it (``capacity`` or ``budget``)."""
    capacity = {name: c.capacity for name, c in catalog.channels.items()}
    budget = catalog.campaign_budget
    selected = pd.Series(False, index=ranked.index)
    blocked: dict[str, str] = {}
    served: set[str] = set()
    candidates = ranked[ranked["expected_value"] > 0].sort_values(
        ["expected_value", "customer_id", "offer_id"], ascending=[False, True, True]
    )
    for index, customer, channel, cost in zip(
        candidates.index, candidates["customer_id"], candidates["channel"], candidates["cost"], strict=True
    ):
        if customer in served:
            continue
        if capacity.get(channel, 0) <= 0:
            blocked.setdefault(customer, CAPACITY)
            continue
        if cost > budget:
            blocked.setdefault(customer, BUDGET)
            continue
        selected[index] = True
        served.add(customer)
        capacity[channel] -= 1
        budget -= cost
    return selected, pd.Series({c: r for c, r in blocked.items() if c not in served}, dtype=object)


def _reason_text(row) -> str:
    parts = [
        f"uplift {row.uplift:.1%} x value {row.value_at_stake:.0f} ({row.value_source}"
        + (f", churn risk {row.churn_risk:.2f}" if pd.notna(row.churn_risk) else "")
        + f") - cost {row.cost:.2f} = {row.expected_value:.2f}",
        f"{row.channel} consented",
        f"last {row.offer_type} {row.days_since_same_offer:.0f} d ago"
        if pd.notna(row.days_since_same_offer)
        else f"no {row.offer_type} sent before",
    ]
    return "; ".join(parts)


def _unserved(ranked: pd.DataFrame, blocked: pd.Series, settings: PolicySettings) -> pd.DataFrame:
    """Each customer with an allowed offer but none selected, on their best offer, with why."""
    served = ranked.loc[ranked["is_selected"], "customer_id"]
    unserved = ranked[(ranked["rank"] == 1) & ~ranked["customer_id"].isin(served)].copy()
    unserved["reason"] = np.select(
        [unserved["is_holdout"].to_numpy(dtype=bool), (unserved["expected_value"] <= 0).to_numpy()],
        [HOLDOUT, NO_POSITIVE_VALUE],
        default=unserved["customer_id"].map(blocked).fillna(CAPACITY).to_numpy(dtype=object),
    )
    unserved["detail"] = [
        f"randomised holdout ({settings.holdout_share:.0%} of customers)"
        if reason == HOLDOUT
        else f"best offer's expected value {value:.2f}"
        for reason, value in zip(unserved["reason"], unserved["expected_value"], strict=True)
    ]
    return unserved


def decide_offers(
    pairs: pd.DataFrame, catalog: OfferCatalog, settings: PolicySettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the policy to scored (customer, offer) pairs.

    ``pairs`` holds per pair: customer and offer columns, consent flags, ``contacts_in_window``,
    ``days_since_same_offer``, ``uplift`` and ``propensity`` (NaN where not scored), ``monetary_365d``,
    ``is_active_365d``, ``predicted_clv_365d`` and ``churn_probability`` (NaN when unknown). Returns the ranked recommendations (top ``top_n`` allowed offers per customer, with
    ``is_holdout``, ``is_selected`` and ``reason``) and the suppressions (customer, offer, channel, reason,
    detail): every pair a hard rule removed, and per unserved customer its best offer with why.
    """
    code, detail = suppression_reasons(pairs, catalog, settings)
    suppressed = pairs.assign(reason=code, detail=detail)[code != ""]
    allowed = expected_incremental_value(pairs[code == ""], catalog, settings)
    allowed = allowed.sort_values(["customer_id", "expected_value", "offer_id"], ascending=[True, False, True])
    allowed["rank"] = allowed.groupby("customer_id").cumcount() + 1
    ranked = allowed[allowed["rank"] <= settings.top_n].copy()
    ranked["is_holdout"] = holdout_mask(ranked["customer_id"], settings.holdout_share, settings.holdout_salt)
    selected, blocked = allocate(ranked[~ranked["is_holdout"]], catalog)
    ranked["is_selected"] = selected.reindex(ranked.index, fill_value=False)
    ranked["reason"] = [_reason_text(row) for row in ranked.itertuples(index=False)]
    unserved = _unserved(ranked, blocked, settings)
    columns = ["customer_id", "offer_id", "offer_type", "channel", "reason", "detail"]
    suppressions = pd.concat([suppressed[columns], unserved[columns]], ignore_index=True)
    return ranked.reset_index(drop=True), suppressions
