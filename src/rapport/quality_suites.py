"""The expectation suites of Rapport's quality gates, each built from a declaration, never from live data.

- ``raw_<table>``: one per table of :data:`rapport.contract.TABLES` (columns, key, required values,
  enums, ranges, freshness of the event time against the as-of date).
- ``customer_360``: the columns the dbt docs declare for the mart, ranges by metric name, null shares.
- ``segment_health``: the segment mart's declared columns, customer counts against ``customer_360``.
- ``churn_training_set``: closed label windows only, label balance, no feature event after the cutoff.
- one per ``ml.*`` table of :data:`rapport.scores.SCORE_TABLES`: one score per entity in the run's
  partition, one scoring run, ranges read from the column descriptions, a model version.

Thresholds come from ``expectations/thresholds.yaml``. Values only known at run time (the as-of date,
customer counts) are suite parameters (``{"$PARAMETER": name}``) filled in by :func:`gate_parameters`.
GX is imported inside the builders (it is slow to import).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import yaml

from rapport.contract import TABLES, get_table
from rapport.scores import SCORE_TABLES, ScoreTable
from rapport.settings import get_settings

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite

ORDER_TOTAL_CAP = 100_000.0
RAW_CAPS: dict[str, dict[str, float]] = {"orders": {"order_total": ORDER_TOTAL_CAP, "discount_amount": ORDER_TOTAL_CAP}}
CRITICAL, WARNING = "critical", "warning"

SEGMENT_HEALTH_COLUMNS = (
    "segment_type",
    "segment",
    "as_of_date",
    "customers",
    "revenue_365d",
    "avg_nps",
    "nps",
    "avg_engagement_index",
    "avg_sentiment",
    "avg_churn_probability",
    "avg_health_index",
    "moved_in",
    "moved_out",
)

# Ranges of mart metrics, by column name (first match wins); None = unbounded on that side.
METRIC_RANGES: tuple[tuple[str, float | None, float | None], ...] = (
    (r"^rfm_(recency|frequency|monetary)_score$", 1, 5),
    (r"(health|engagement)_index$", 0, 100),
    (r"(_probability$|^p_(negative|neutral|positive)$|^propensity$|_share(_\d+d)?$|_rate(_\d+d)?$)", 0, 1),
    (r"^(latest|avg)_nps$", 0, 10),
    (r"^nps$", -100, 100),
    (r"^avg_review_rating$", 1, 5),
    (r"^(avg_sentiment|sentiment_level)$", -1, 1),
    (r"^(?!.*trend).*(_days|_\d+d|_count)$|^(customers|moved_in|moved_out|lifetime_orders|historic_clv)$", 0, None),
)
_DESCRIBED_RANGE = re.compile(r"(-?\d+(?:\.\d+)?)\s*\.\.\s*(-?\d+(?:\.\d+)?)")


def thresholds_path() -> Path:
    return get_settings().expectations_dir / "thresholds.yaml"


@cache
def _load_thresholds(path: Path) -> dict[str, Any]:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise FileNotFoundError(
            f"quality thresholds {path} are missing: restore expectations/thresholds.yaml"
        ) from None


def thresholds(section: str) -> dict[str, Any]:
    """One section of ``expectations/thresholds.yaml``."""
    return _load_thresholds(thresholds_path()).get(section) or {}


# ---------------------------------------------------------------- raw tables (the data contract)


def raw_table_suite(table_name: str) -> ExpectationSuite:
    """Suite ``raw_<table>`` derived from the data contract: columns, keys, required values, enums, ranges, freshness.

    Every contract column must exist: a column missing from the table fails the gate; an empty table fails
    it only for a required source (customers, orders). :data:`RAW_CAPS`
    bounds columns the contract leaves open (an order total). A versioned table (corrections arrive
    again with a newer version) is keyed by key + version. Freshness compares the latest event time
    with the run's parameter ``<table>_fresh_since`` (the as-of date minus the configured age).
    """
    import great_expectations.expectations as gxe
    from great_expectations import ExpectationSuite

    table = get_table(table_name)
    caps = RAW_CAPS.get(table_name, {})
    expectations: list[Any] = _columns_exist(c.raw_name for c in table.raw_columns)
    expectations.append(
        gxe.ExpectTableRowCountToBeBetween(
            min_value=1,
            severity=CRITICAL if table.required else WARNING,
            notes=None if table.required else "an optional source may be empty",
        )
    )
    expectations.append(_unique([*table.key, *([table.version_column] if table.version_column else [])]))
    for column in table.raw_columns:
        name = column.raw_name
        if column.required or column.name in table.key:
            expectations.append(gxe.ExpectColumnValuesToNotBeNull(column=name))
        if column.enum:
            expectations.append(gxe.ExpectColumnValuesToBeInSet(column=name, value_set=list(column.enum)))
        upper = column.max if column.max is not None else caps.get(column.name)
        if column.min is not None or upper is not None:
            expectations.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=name,
                    min_value=float(column.min) if column.min is not None else None,
                    max_value=float(upper) if upper is not None else None,
                )
            )
    freshness = freshness_rule(table_name)
    if freshness is not None:
        expectations.append(
            gxe.ExpectColumnMaxToBeBetween(
                column=table.event_time,
                min_value={"$PARAMETER": fresh_since_parameter(table_name)},
                severity=freshness["severity"],
                notes=f"freshness: the latest {table.event_time} is at most {freshness['max_age_days']} days "
                "before the as-of date",
            )
        )
    return ExpectationSuite(name=f"raw_{table_name}", expectations=expectations)


def freshness_rule(table_name: str) -> dict[str, Any] | None:
    """The table's freshness rule (``max_age_days``, ``severity``), or None for a table without an event time."""
    config = thresholds("freshness")
    tables = config.get("tables") or {}
    rule = tables[table_name] if table_name in tables else config.get("default")
    if rule is None or get_table(table_name).event_time is None:
        return None
    return {"max_age_days": int(rule["max_age_days"]), "severity": rule.get("severity", CRITICAL)}


def fresh_since_parameter(table_name: str) -> str:
    return f"{table_name}_fresh_since"


# ---------------------------------------------------------------- marts


def customer_360_suite() -> ExpectationSuite:
    """Suite ``customer_360``: every column the dbt docs declare, one row per customer, sane metrics.

    The row count may not exceed the run parameter ``raw_customer_count``; each metric is bounded by
    :data:`METRIC_RANGES`; null shares follow the thresholds.
    """
    import great_expectations.expectations as gxe
    from great_expectations import ExpectationSuite

    columns = declared_mart_columns("customer_360")
    expectations: list[Any] = _columns_exist(columns)
    expectations += [
        gxe.ExpectColumnValuesToNotBeNull(column="customer_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="as_of_date"),
        gxe.ExpectColumnValuesToBeUnique(column="customer_id"),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value={"$PARAMETER": "raw_customer_count"}),
    ]
    expectations += _metric_ranges(columns)
    expectations += _null_shares(thresholds("customer_360"), columns)
    return ExpectationSuite(name="customer_360", expectations=expectations)


def segment_health_suite() -> ExpectationSuite:
    """Suite ``segment_health``: one row per segment type, segment and date; no segment larger than the customer base.

    ``customer_count`` (rows of ``customer_360``) bounds every segment's ``customers`` and, per segment
    type, their sum (the query asset adds ``segment_type_customers``).
    """
    import great_expectations.expectations as gxe
    from great_expectations import ExpectationSuite

    columns = SEGMENT_HEALTH_COLUMNS
    expectations: list[Any] = _columns_exist(columns)
    expectations += [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("segment_type", "segment", "as_of_date")]
    expectations += [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        _unique(["segment_type", "segment", "as_of_date"]),
        gxe.ExpectColumnValuesToBeBetween(column="customers", min_value=1, max_value={"$PARAMETER": "customer_count"}),
        gxe.ExpectColumnValuesToBeBetween(
            column="segment_type_customers", min_value=0, max_value={"$PARAMETER": "customer_count"}
        ),
    ]
    expectations += _metric_ranges(c for c in columns if c != "customers")
    expectations += _null_shares(thresholds("segment_health"), columns)
    return ExpectationSuite(name="segment_health", expectations=expectations)


SEGMENT_HEALTH_QUERY = (
    "select *, sum(customers) over (partition by segment_type, as_of_date) as segment_type_customers "
    "from marts.segment_health"
)


def churn_training_set_suite() -> ExpectationSuite:
    """Suite ``churn_training_set``: the churn labels joined to their features, checked for balance and leakage.

    Leakage has three faces here: a label whose window closes after the as-of date (it would read the
    future), a feature built from an event at or after its cutoff (``last_source_event_at``), and a
    label without features. The churn rate stays within the configured bounds.
    """
    import great_expectations.expectations as gxe
    from great_expectations import ExpectationSuite

    rate = thresholds("churn_training_set").get("churn_rate") or {"min": 0.0, "max": 1.0}
    expectations: list[Any] = _columns_exist(
        ("customer_id", "cutoff_date", "is_churned", "label_window_end_date", "cutoff_at", "last_source_event_at")
    )
    expectations += [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        _unique(["customer_id", "cutoff_date"]),
        gxe.ExpectColumnValuesToNotBeNull(column="is_churned"),
        gxe.ExpectColumnValuesToNotBeNull(column="feature_customer_id", notes="every label has its features"),
        gxe.ExpectColumnMeanToBeBetween(
            column="churn_label",
            min_value=float(rate["min"]),
            max_value=float(rate["max"]),
            severity=rate.get("severity", CRITICAL),
            notes="label balance: share of churned customers over the closed label windows",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="label_window_end_date",
            max_value={"$PARAMETER": "as_of_date"},
            notes="a label window must close by the as-of date",
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="cutoff_at",
            column_B="last_source_event_at",
            or_equal=False,
            ignore_row_if="either_value_is_missing",
            notes="no feature may come from an event at or after its cutoff",
        ),
        gxe.ExpectColumnValuesToBeBetween(column="recency_days", min_value=0),
        gxe.ExpectColumnValuesToBeBetween(column="tenure_days", min_value=0),
    ]
    return ExpectationSuite(name="churn_training_set", expectations=expectations)


CHURN_TRAINING_SET_QUERY = """
select
    labels.customer_id,
    labels.as_of_date as cutoff_date,
    labels.is_churned,
    labels.is_churned::integer as churn_label,
    labels.as_of_date + labels.churn_horizon_days::integer as label_window_end_date,
    labels.as_of_date::timestamp as cutoff_at,
    features.customer_id as feature_customer_id,
    features.recency_days,
    features.tenure_days,
    history.last_source_event_at,
from marts.ml_churn_labels as labels
left join marts.ml_customer_features as features using (customer_id, as_of_date)
left join intermediate.int_customer_features_as_of as history using (customer_id, as_of_date)
""".strip()


# ---------------------------------------------------------------- score tables


def score_table_suite(table: ScoreTable) -> ExpectationSuite:
    """Suite for an ``ml.*`` score table, run on one (as-of date) partition: one score per entity and model.

    A column whose description states a range (``0..1``, ``-1..1``) or calls it a probability is
    bounded; every row names its model version and scoring run (an incremental scorer may keep rows of
    earlier runs in the partition, so the run is not required to be unique).
    """
    import great_expectations.expectations as gxe
    from great_expectations import ExpectationSuite

    may_be_empty = table.name in (thresholds("score_tables").get("may_be_empty") or [])
    expectations: list[Any] = _columns_exist(table.column_names)
    expectations += [
        gxe.ExpectTableRowCountToBeBetween(min_value=1, severity=WARNING if may_be_empty else CRITICAL),
        _unique(list(table.key)),
    ]
    expectations += [
        gxe.ExpectColumnValuesToNotBeNull(column=c)
        for c in dict.fromkeys([*table.key, "model_version", "scoring_run_id"])
    ]
    for column in table.columns:
        bounds = described_range(column.description, column.name)
        if bounds is not None:
            expectations.append(
                gxe.ExpectColumnValuesToBeBetween(column=column.name, min_value=bounds[0], max_value=bounds[1])
            )
    return ExpectationSuite(name=score_suite_name(table), expectations=expectations)


def score_suite_name(table: ScoreTable) -> str:
    return table.name.split(".")[-1]


def described_range(description: str, name: str = "") -> tuple[float, float] | None:
    """The range a score column's description declares (``in -1..1``), 0..1 for a probability, else None."""
    found = _DESCRIBED_RANGE.search(description)
    if found:
        return float(found.group(1)), float(found.group(2))
    if "probability" in description.lower() or name.startswith("p_"):
        return 0.0, 1.0
    return None


def score_tables() -> list[ScoreTable]:
    return list(SCORE_TABLES.values())


# ---------------------------------------------------------------- run-time parameters


def gate_parameters(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, Any]:
    """Every suite parameter for a run as of ``as_of`` (cheap: counts over keys, no table scans of events)."""
    parameters: dict[str, Any] = {"as_of_date": as_of.isoformat()}
    for table in TABLES:
        rule = freshness_rule(table.name)
        if rule is not None:
            parameters[fresh_since_parameter(table.name)] = (as_of - timedelta(days=rule["max_age_days"])).isoformat()
    parameters["raw_customer_count"] = _count(con, "select count(distinct customer_id) from raw.customers")
    parameters["customer_count"] = _count(con, "select count(*) from marts.customer_360")
    return parameters


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    try:
        row = con.execute(sql).fetchone()
    except duckdb.CatalogException:
        return 0
    return int(row[0]) if row else 0


# ---------------------------------------------------------------- helpers


def declared_mart_columns(model: str) -> list[str]:
    """The columns the dbt docs (``models/marts/_marts__models.yml``) declare for a mart, in order."""
    path = get_settings().dbt_project_dir / "models" / "marts" / "_marts__models.yml"
    models = yaml.safe_load(path.read_text()).get("models") or []
    for entry in models:
        if entry.get("name") == model:
            return [column["name"] for column in entry.get("columns") or []]
    raise KeyError(f"{path} declares no model {model!r}: its quality suite is built from the declared columns")


def metric_range(column: str) -> tuple[float | None, float | None] | None:
    """The range :data:`METRIC_RANGES` gives a mart column, or None when its name matches no rule."""
    for pattern, low, high in METRIC_RANGES:
        if re.search(pattern, column):
            return low, high
    return None


def _metric_ranges(columns: Iterable[str]) -> list[Any]:
    import great_expectations.expectations as gxe

    expectations = []
    for column in columns:
        bounds = metric_range(column)
        if bounds is not None:
            expectations.append(
                gxe.ExpectColumnValuesToBeBetween(column=column, min_value=bounds[0], max_value=bounds[1])
            )
    return expectations


def _null_shares(config: Mapping[str, Any], columns: Sequence[str]) -> list[Any]:
    """Not-null expectations with ``mostly`` = 1 - the configured null share, for the declared columns only."""
    import great_expectations.expectations as gxe

    expectations = []
    for column, rule in (config.get("max_null_share") or {}).items():
        if column not in columns:
            continue
        share = float(rule["share"])
        expectations.append(
            gxe.ExpectColumnValuesToNotBeNull(
                column=column,
                mostly=round(1.0 - share, 6) if share else 1.0,
                severity=rule.get("severity", CRITICAL),
                notes=f"at most {share:.0%} null",
            )
        )
    return expectations


def _unique(columns: Sequence[str]) -> Any:
    import great_expectations.expectations as gxe

    if len(columns) == 1:
        return gxe.ExpectColumnValuesToBeUnique(column=columns[0])
    return gxe.ExpectCompoundColumnsToBeUnique(column_list=list(columns))


def _columns_exist(columns: Iterable[str]) -> list[Any]:
    import great_expectations.expectations as gxe

    return [gxe.ExpectColumnToExist(column=name) for name in columns]
