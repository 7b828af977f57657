"""Campaign lists: who gets which offer on each channel, and who was left out and why.

``export_campaigns`` reads the selected, non-holdout recommendations of an as-of date and the suppressions
of the same scoring run, re-checks marketing consent against the latest consent events (a customer may have
withdrawn it since the decision), and writes per channel a campaign list and its suppression list, as CSV
and Parquet, under ``<RAPPORT_HOME>/exports/<as_of>/``. The folder is written beside the old one and
swapped in, so a failed export leaves the previous lists intact and a rerun replaces them.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from rapport.settings import get_settings

CONSENT_WITHDRAWN = "consent_withdrawn"
CAMPAIGN_COLUMNS = [
    "customer_id",
    "offer_id",
    "offer_type",
    "channel",
    "expected_value",
    "uplift",
    "propensity",
    "reason",
    "model_version",
    "scoring_run_id",
]
SUPPRESSION_COLUMNS = ["customer_id", "channel", "reasons", "detail", "offer_ids"]


def load_selected_offers(con: duckdb.DuckDBPyConnection, as_of: date, model_name: str) -> pd.DataFrame:
    """The offers the policy selected at ``as_of`` (holdout customers never are)."""
    return con.execute(
        "select * from ml.offer_recommendations where as_of_date = ? and model_name = ? "
        "and is_selected and not is_holdout order by channel, customer_id",
        [as_of, model_name],
    ).df()


def load_suppressions(con: duckdb.DuckDBPyConnection, as_of: date, model_name: str) -> pd.DataFrame:
    return con.execute(
        "select * from ml.offer_suppressions where as_of_date = ? and model_name = ? order by channel, customer_id",
        [as_of, model_name],
    ).df()


def latest_channel_consent(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Marketing consent per (customer, channel) from the latest consent event known now, whatever the date."""
    return con.execute(
        """
        select customer_id, channel, is_granted, recorded_at
        from staging.stg_consent__consents
        where purpose = 'marketing'
        qualify row_number() over (partition by customer_id, channel order by recorded_at desc, consent_id desc) = 1
        """
    ).df()


def recheck_consent(selected: pd.DataFrame, consents: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split selected offers into those still consented and those whose channel consent is gone now."""
    merged = selected.merge(consents, on=["customer_id", "channel"], how="left")
    granted = merged["is_granted"].fillna(False).astype(bool).to_numpy()
    withdrawn = merged[~granted]
    dropped = withdrawn.assign(
        reason=CONSENT_WITHDRAWN,
        detail=[
            f"no marketing consent on {channel} at export"
            + (f" (since {pd.Timestamp(at).date()})" if pd.notna(at) else "")
            for channel, at in zip(withdrawn["channel"], withdrawn["recorded_at"], strict=True)
        ],
    )
    return selected[granted].reset_index(drop=True), dropped


def suppression_list(suppressions: pd.DataFrame, channel: str, sent_to: set[str]) -> pd.DataFrame:
    """One row per customer left out of ``channel``'s campaign: every reason and the offers concerned.

    Customers who do get an offer on the channel are not on its suppression list.
    """
    rows = suppressions[(suppressions["channel"] == channel) & ~suppressions["customer_id"].isin(sent_to)]
    if rows.empty:
        return pd.DataFrame(columns=SUPPRESSION_COLUMNS)
    rows = rows.sort_values(["customer_id", "reason", "offer_id"])
    return (
        rows.groupby("customer_id", sort=True)
        .agg(
            reasons=("reason", lambda r: ",".join(dict.fromkeys(r))),
            detail=("detail", lambda d: "; ".join(dict.fromkeys(d))),
            offer_ids=("offer_id", lambda o: ",".join(o)),
        )
        .reset_index()
        .assign(channel=channel)[SUPPRESSION_COLUMNS]
    )


def _write(frame: pd.DataFrame, folder: Path, stem: str) -> None:
    frame.to_csv(folder / f"{stem}.csv", index=False)
    frame.to_parquet(folder / f"{stem}.parquet", index=False)


def swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with two renames; the old folder is removed only afterwards."""
    previous = target.with_name(f".{target.name}.previous-{uuid.uuid4().hex[:8]}")
    if target.exists():
        target.rename(previous)
    staging.rename(target)
    shutil.rmtree(previous, ignore_errors=True)


def export_campaigns(as_of: date, con: duckdb.DuckDBPyConnection | None = None) -> dict:
    """Write per channel ``<channel>.csv|parquet`` (campaign list) and ``<channel>_suppressions.csv|parquet``
    under ``<RAPPORT_HOME>/exports/<as_of>/``; return the folder and row counts per channel."""
    from rapport import warehouse
    from rapport.ml.config import load_model_config
    from rapport.ml.nbo import load_offer_rules

    config = load_model_config("nbo")
    catalog, _ = load_offer_rules(config)
    own = con is None
    con = con or warehouse.connect(read_only=True)
    try:
        selected = load_selected_offers(con, as_of, config["model_name"])
        suppressions = load_suppressions(con, as_of, config["model_name"])
        consents = latest_channel_consent(con)
    finally:
        if own:
            con.close()
    runs = set(selected["scoring_run_id"]) | set(suppressions["scoring_run_id"])
    if len(runs) > 1:
        raise RuntimeError(
            f"ml.offer_recommendations and ml.offer_suppressions at {as_of} come from different scoring runs "
            f"{sorted(runs)}: rescore nbo for {as_of} before exporting"
        )
    if selected.empty and suppressions.empty:
        raise LookupError(f"no offer decisions at {as_of} in ml.offer_recommendations: run `rapport score nbo` first")
    kept, withdrawn = recheck_consent(selected, consents)
    suppressions = pd.concat([suppressions, withdrawn[suppressions.columns.intersection(withdrawn.columns)]])
    exports = get_settings().home / "exports"
    target = exports / as_of.isoformat()
    staging = exports / f".{as_of.isoformat()}.incoming-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    counts = {}
    try:
        for channel in sorted(catalog.channels):
            campaign = kept.loc[kept["channel"] == channel, CAMPAIGN_COLUMNS].reset_index(drop=True)
            suppressed = suppression_list(suppressions, channel, set(campaign["customer_id"]))
            _write(campaign, staging, channel)
            _write(suppressed, staging, f"{channel}_suppressions")
            counts[channel] = {"customers": len(campaign), "suppressed": len(suppressed)}
        swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {
        "as_of": as_of.isoformat(),
        "exports_dir": str(target),
        "scoring_run_id": next(iter(runs), None),
        "consent_withdrawn_at_export": len(withdrawn),
        "channels": counts,
    }
