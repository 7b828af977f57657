"""The simulator writes contract-valid, deterministic landing files with held-out review texts."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from rapport import simulate
from rapport.contract import TABLES, Table, get_table
from rapport.settings import get_settings
from rapport.simulate import generate
from rapport.simulate.corpus import HELD_OUT_BUCKETS, split_bucket

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
INTEGER = re.compile(r"^-?\d+$")
START = date(2024, 11, 1)


def read_landing(landing: Path, table: Table) -> pd.DataFrame:
    frames = [pd.DataFrame(columns=[*table.column_names, "_file_day"], dtype=str)]
    for path in sorted((landing / table.name).glob("*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert list(frame.columns) == table.column_names, path
        frame["_file_day"] = path.stem.removeprefix(f"{table.name}_")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def landing(module_home: Path) -> tuple[Path, dict[str, int]]:
    counts = generate(module_home / "landing", customers=300, start=START, days=120, seed=7)
    return module_home / "landing", counts


@pytest.fixture(scope="module")
def tables(landing: tuple[Path, dict[str, int]]) -> dict[str, pd.DataFrame]:
    return {t.name: read_landing(landing[0], t) for t in TABLES}


def test_every_table_is_written_and_counted(landing, tables):
    _, counts = landing
    assert set(counts) == {t.name for t in TABLES}
    for table in TABLES:
        assert counts[table.name] == len(tables[table.name]), table.name
        # a few hundred customers over four months rarely ask to be forgotten (see test_deletion_requests_*)
        assert len(tables[table.name]) > 0 or table.name == "deletion_requests", table.name


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_rows_satisfy_the_contract(table: Table, tables):
    frame = tables[table.name]
    for column in table.columns:
        values = frame[column.name]
        present = values[values != ""]
        if column.required:
            assert len(present) == len(values), f"{table.name}.{column.name} has empty required values"
        if column.enum:
            assert set(present) <= set(column.enum), f"{table.name}.{column.name}: {set(present) - set(column.enum)}"
        pattern = {"timestamp": TIMESTAMP, "decimal": DECIMAL, "integer": INTEGER}.get(column.type)
        if pattern is not None:
            assert present.str.match(pattern).all(), f"{table.name}.{column.name} badly formatted"
        if column.type == "boolean":
            assert set(present) <= {"true", "false"}
        if column.type in ("decimal", "integer") and (column.min is not None or column.max is not None):
            numbers = present.astype(float)
            assert column.min is None or (numbers >= column.min).all(), f"{table.name}.{column.name} below min"
            assert column.max is None or (numbers <= column.max).all(), f"{table.name}.{column.name} above max"
        if column.references:
            parent_table, parent_column = column.references.split(".")
            parents = set(tables[parent_table][parent_column])
            assert set(present) <= parents, f"{table.name}.{column.name} breaks its foreign key"
    if table.version_column is None:
        assert not frame.duplicated(list(table.key)).any(), f"{table.name} repeats its key"


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_files_are_dated_by_event_time(table: Table, tables):
    frame = tables[table.name]
    event_day = frame[table.event_time].str[:10]
    if table.name == "orders":
        event_day = event_day.where(~frame.duplicated("order_id", keep="first"), frame["updated_at"].str[:10])
    assert (event_day == frame["_file_day"]).all()


def test_sources_join_to_customers_by_phone_card_and_ids(tables):
    customers = tables["customers"]
    assert customers["customer_id"].is_unique and customers["email"].is_unique
    phones = set(customers.loc[customers["phone"] != "", "phone"])
    assert all(re.fullmatch(r"\+\d{8,15}", p) for p in phones)
    assert set(tables["call_center_contacts"]["phone"]) <= phones
    cards = set(customers.loc[customers["loyalty_card_id"] != "", "loyalty_card_id"])
    assert set(tables["store_visits"]["loyalty_card_id"]) <= cards
    assert (customers["updated_at"] == customers["signup_at"]).all()
    assert (customers["signup_at"] < "2024-11-01").any() and (customers["signup_at"] >= "2024-11-01").any()


def test_orders_carry_corrections_offers_and_store_ids(tables):
    orders = tables["orders"]
    repeated = orders[orders.duplicated("order_id", keep=False)].sort_values(["order_id", "updated_at"])
    assert len(repeated) > 0
    for _, versions in repeated.groupby("order_id"):
        assert versions["updated_at"].is_monotonic_increasing and versions["updated_at"].nunique() == len(versions)
    assert ((orders["channel"] == "store") == (orders["store_id"] != "")).all()
    assert (orders["offer_id"] != "").any()
    responses = tables["offer_responses"]
    assert set(responses["assignment_group"]) == {"treatment", "control"}
    responded = responses[responses["has_responded"] == "true"]
    assert (responded["responded_at"] >= responded["sent_at"]).all()
    assert (responses.loc[responses["has_responded"] == "false", "responded_at"] == "").all()


def test_web_events_are_partly_anonymous(tables):
    web = tables["web_events"]
    anonymous = (web["customer_id"] == "").mean()
    assert 0.02 < anonymous < 0.4
    assert "login" in set(web["event_type"])


def test_review_texts_come_only_from_validation_and_test_splits(tables):
    corpus = pd.read_csv(get_settings().reviews_corpus).rename(columns={"Unnamed: 0": "row_id"})
    held_out = corpus[corpus["row_id"].map(split_bucket).isin(HELD_OUT_BUCKETS) & corpus["Review Text"].notna()]
    pairs = set(zip(held_out["Review Text"], held_out["Rating"].astype(str), strict=True))
    reviews = tables["reviews"]
    assert all((text, rating) in pairs for text, rating in zip(reviews["review_text"], reviews["rating"], strict=True))


def test_split_bucket_matches_the_corpus_readme():
    assert [split_bucket(i) for i in range(5)] == [5, 5, 1, 8, 2]


def test_same_seed_writes_byte_identical_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    first, second = tmp_path / "a", tmp_path / "b"
    assert generate(first, customers=60, days=30, seed=3) == generate(second, customers=60, days=30, seed=3)
    files = sorted(p.relative_to(first) for p in first.rglob("*.csv"))
    assert files == sorted(p.relative_to(second) for p in second.rglob("*.csv"))
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    generate(tmp_path / "c", customers=60, days=30, seed=4)
    first_customers = b"".join(p.read_bytes() for p in sorted((first / "customers").glob("*.csv")))
    other_customers = b"".join(p.read_bytes() for p in sorted((tmp_path / "c" / "customers").glob("*.csv")))
    assert first_customers != other_customers


def test_parquet_files_hold_the_same_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    counts = generate(tmp_path / "landing", customers=40, days=21, seed=1, file_format="parquet")
    orders = pd.concat(pd.read_parquet(p) for p in (tmp_path / "landing" / "orders").glob("*.parquet"))
    assert list(orders.columns) == next(t for t in TABLES if t.name == "orders").column_names
    assert len(orders) == counts["orders"]


def test_missing_corpus_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAPPORT_HOME", str(tmp_path))
    monkeypatch.setenv("RAPPORT_REVIEWS_CORPUS", str(tmp_path / "nope.csv"))
    with pytest.raises(FileNotFoundError, match="RAPPORT_REVIEWS_CORPUS"):
        generate(tmp_path / "landing", customers=10, days=14)


def test_bad_arguments_are_rejected(tmp_path: Path):
    with pytest.raises(ValueError, match="file_format"):
        generate(tmp_path, customers=10, days=14, file_format="json")


@pytest.fixture(scope="module")
def blocked(module_home: Path) -> dict[str, pd.DataFrame]:
    """1,200 customers over 150 days simulated in blocks of 500, as a million customers are in blocks."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(simulate, "BLOCK_CUSTOMERS", 500)
        landing = module_home / "blocked"
        generate(landing, customers=1200, start=START, days=150, seed=11)
    return {t.name: read_landing(landing, t) for t in TABLES}


def test_blocks_share_one_id_space_and_catalog(blocked):
    customers = blocked["customers"]
    assert customers["customer_id"].is_unique and len(customers) == 1200
    assert customers["email"].is_unique and customers["loyalty_card_id"].replace("", None).dropna().is_unique
    assert customers["phone"].replace("", None).dropna().is_unique
    for table in TABLES:
        if table.version_column is None:
            assert not blocked[table.name].duplicated(list(table.key)).any(), table.name
    known = set(customers["customer_id"])
    for name in ("orders", "consents", "interactions", "offer_responses"):
        assert set(blocked[name]["customer_id"]) <= known, name
    responses = blocked["offer_responses"].merge(blocked["customers"][["customer_id"]], on="customer_id")
    per_campaign = responses.groupby("campaign_id")["customer_id"].nunique()
    # every block targets its share of each campaign, so campaigns reach customers of several blocks
    numbers = responses["customer_id"].str[1:].astype(int)
    assert (numbers <= 500).any() and (numbers > 1000).any() and (per_campaign > 5).all()


def test_deletion_requests_stop_the_customers_activity(blocked):
    requests = blocked["deletion_requests"]
    assert 0 < requests["customer_id"].nunique() < 0.05 * len(blocked["customers"])
    assert get_table("deletion_requests").column("customer_id").references is None, "may name a forgotten customer"
    first_request = requests.groupby("customer_id")["requested_at"].min()
    for name, time_column in (
        ("orders", "updated_at"),
        ("web_events", "occurred_at"),
        ("interactions", "occurred_at"),
        ("reviews", "reviewed_at"),
        ("consents", "recorded_at"),
    ):
        rows = blocked[name].merge(first_request.rename("requested_at"), on="customer_id")
        after = rows[rows[time_column] > rows["requested_at"]]
        assert after.empty, f"{name}: {len(after)} rows after a deletion request"
    active_before = blocked["orders"]["customer_id"].isin(first_request.index).any()
    assert active_before, "customers who ask to be forgotten were customers before"


def test_consent_changes_over_time_per_purpose_and_channel(tables):
    consents = tables["consents"].sort_values(["customer_id", "purpose", "channel", "recorded_at"])
    history = consents.groupby(["customer_id", "purpose", "channel"])["is_granted"].agg(["first", "last", "size"])
    changed = history[(history["size"] > 1) & (history["first"] == "true") & (history["last"] == "false")]
    assert set(changed.index.get_level_values("purpose")) == {"analytics", "profiling", "marketing"}
    assert {"email", "sms"} <= set(changed.index.get_level_values("channel"))
    withdrawn_at = consents.loc[consents["is_granted"] == "false", "recorded_at"]
    assert withdrawn_at.str[:10].nunique() > 20, "withdrawals are spread over time, not all at sign-up"
