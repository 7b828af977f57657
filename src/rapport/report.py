"""The relationship health report: one self-contained HTML page per run, from the marts, score tables and registry.

Every section is one function that reads what it shows and returns its HTML, or says why it has no
data. The page opens offline (plotly.js is inlined once) and states what it rests on: the data's as-of
date and freshness, the quality gates, and the model version behind every score.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from rapport import warehouse
from rapport.settings import get_settings

# Okabe-Ito: a colour-blind safe palette.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
SENTIMENT_COLOURS = {"negative": PALETTE[3], "neutral": PALETTE[1], "positive": PALETTE[0]}
MODELS = ("churn", "clv", "nbo", "sentiment")
# The holdout metrics a model card shows (each model logs the ones that fit it).
CARD_METRICS = (
    "val_roc_auc",
    "val_pr_auc",
    "val_brier",
    "val_lift_top_decile",
    "val_mae",
    "val_revenue_capture_top_1_decile",
    "val_qini_coefficient",
    "val_accuracy",
    "val_macro_f1",
)


class NoData(Exception):
    """A section's tables are missing or hold nothing for the report's date; the message says which."""


@dataclass(frozen=True)
class Section:
    title: str
    render: Callable[[duckdb.DuckDBPyConnection, date], str]


def _query(con: duckdb.DuckDBPyConnection, sql: str, tables: tuple[str, ...], params: list | None = None):
    """Rows of ``sql``; raises NoData when one of ``tables`` is not built or the query returns nothing."""
    for table in tables:
        schema, name = table.split(".")
        if not warehouse.table_exists(con, schema, name):
            raise NoData(f"{table} has not been built yet")
    frame = con.execute(sql, params or []).df()
    if frame.empty:
        raise NoData(f"{', '.join(tables)} hold no rows for this date")
    return frame


def _figure_html(fig, height: int = 360) -> str:
    """A figure as a ``<div>``; plotly.js itself is inlined once in the page head."""
    fig.update_layout(template="plotly_white", margin={"l": 50, "r": 20, "t": 50, "b": 40}, height=height)
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, escape=True, na_rep="–", float_format=_number)


def _number(value: float) -> str:
    """Three significant digits, but never scientific notation for amounts (2,860, not 2.86e+03)."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _note(text: str) -> str:
    return f"<p class='note'>{html.escape(text)}</p>"


def show_figure(fig, name: str) -> Path | None:
    """Show a notebook's figure inline under Jupyter; run as a script, write it to ``reports/notebooks/<name>.html``."""
    try:
        from IPython import get_ipython

        if get_ipython() is not None:
            fig.show()
            return None
    except ImportError:
        pass
    folder = get_settings().reports_dir / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.html"
    fig.update_layout(template="plotly_white")
    fig.write_html(path, include_plotlyjs=True)
    return path


# --- sections ----------------------------------------------------------------------------------------


def provenance(con, as_of: date) -> str:
    """What the page rests on: data freshness, gate verdicts and the model version behind every score table."""
    freshness = _query(
        con,
        "select 'orders' as source, max(ordered_at) as latest_event, count(*) as rows_before_as_of "
        "from staging.stg_shop__orders where ordered_at < ? "
        "union all select 'reviews', max(reviewed_at), count(*) from staging.stg_shop__reviews where reviewed_at < ? "
        "union all select 'web events', max(occurred_at), count(*) from staging.stg_web__events where occurred_at < ?",
        ("staging.stg_shop__orders", "staging.stg_shop__reviews", "staging.stg_web__events"),
        [as_of, as_of, as_of],
    )
    freshness["days_before_as_of"] = (pd.Timestamp(as_of) - pd.to_datetime(freshness["latest_event"])).dt.days
    from rapport.scores import SCORE_TABLES

    versions = []
    for table in SCORE_TABLES:
        schema, name = table.split(".")
        if warehouse.table_exists(con, schema, name):
            versions.append(
                con.execute(
                    f"select '{table}' as score_table, model_name, model_version, count(*) as rows, "
                    f"max(scored_at) as scored_at from {table} where as_of_date = ? group by all",
                    [as_of],
                ).df()
            )
    models = pd.concat(versions) if versions else pd.DataFrame()
    gates = _gate_results(con, as_of)
    verdict = (
        f"{int(gates['success'].sum())} of {len(gates)} quality gates passed"
        if gates is not None
        else "no gate results"
    )
    return (
        _note(f"Scores and metrics are as of {as_of}: features use data from before this date only. {verdict}.")
        + "<h3>Data freshness</h3>"
        + _table(freshness)
        + "<h3>Model versions behind the scores</h3>"
        + (_table(models) if len(models) else _note("no score table holds rows for this date"))
    )


def health_by_segment(con, as_of: date) -> str:
    """The relationship health index per RFM segment over the weekly snapshots up to the report's date."""
    import plotly.express as px

    frame = _query(
        con,
        "select as_of_date, segment, customers, avg_health_index from marts.segment_health "
        "where segment_type = 'rfm_segment' and as_of_date <= ? order by as_of_date, segment",
        ("marts.segment_health",),
        [as_of],
    )
    dates = frame["as_of_date"].nunique()
    chart = px.line if dates > 1 else px.bar
    fig = chart(
        frame,
        x="as_of_date" if dates > 1 else "segment",
        y="avg_health_index",
        color="segment",
        color_discrete_sequence=PALETTE,
        title="Relationship health index (0–100) per RFM segment",
        labels={"as_of_date": "as of", "avg_health_index": "health index (0–100)", "segment": "RFM segment"},
    )
    latest = frame[frame["as_of_date"] == frame["as_of_date"].max()].drop(columns="as_of_date")
    return _figure_html(fig) + _table(latest.sort_values("avg_health_index"))


def segment_movement(con, as_of: date) -> str:
    """Segment sizes now, and the flow of customers between RFM segments since the previous snapshot."""
    import plotly.graph_objects as go

    sizes = _query(
        con,
        "select segment, customers, moved_in, moved_out from marts.segment_health "
        "where segment_type = 'rfm_segment' and as_of_date = ? order by customers desc",
        ("marts.segment_health",),
        [as_of],
    )
    body = _table(sizes)
    try:
        flows = _query(
            con,
            "with snapshots as (select distinct as_of_date from marts.customer_360_history where as_of_date <= ? "
            "order by as_of_date desc limit 2), "
            "pairs as (select min(as_of_date) as before_date, max(as_of_date) as after_date from snapshots "
            "having count(*) = 2) "
            "select b.rfm_segment as source, a.rfm_segment as target, count(*) as customers "
            "from marts.customer_360_history b join marts.customer_360_history a using (customer_id) "
            "join pairs on b.as_of_date = pairs.before_date and a.as_of_date = pairs.after_date group by 1, 2",
            ("marts.customer_360_history",),
            [as_of],
        )
    except NoData as reason:
        return body + _note(f"no flow between snapshots: {reason}")
    labels = sorted(set(flows["source"]) | set(flows["target"]))
    left = {s: i for i, s in enumerate(labels)}
    right = {s: i + len(labels) for i, s in enumerate(labels)}
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(labels))] * 2
    fig = go.Figure(
        go.Sankey(
            node={"label": [f"{s} (before)" for s in labels] + [f"{s} (now)" for s in labels], "color": colours},
            link={
                "source": flows["source"].map(left).tolist(),
                "target": flows["target"].map(right).tolist(),
                "value": flows["customers"].tolist(),
            },
        )
    )
    fig.update_layout(title="Customers moving between RFM segments since the previous snapshot")
    return _figure_html(fig, height=460) + body


def churn_risk(con, as_of: date) -> str:
    """How churn risk is spread, and the at-risk customers worth a call, with the model's reasons."""
    import plotly.express as px

    scores = _query(
        con,
        "select churn_probability, risk_band, model_version from ml.churn_scores where as_of_date = ?",
        ("ml.churn_scores",),
        [as_of],
    )
    fig = px.histogram(
        scores,
        x="churn_probability",
        nbins=20,
        color="risk_band",
        color_discrete_map={"low": PALETTE[0], "medium": PALETTE[1], "high": PALETTE[3]},
        title=f"Churn risk of active customers (rapport-churn v{scores['model_version'].iloc[0]})",
        labels={"churn_probability": "probability of no purchase in the horizon", "count": "customers"},
    )
    reasons = ", ".join(c for c in ("reason_1", "reason_2", "reason_3") if c in con.table("ml.churn_scores").columns)
    top = con.execute(
        f"select s.customer_id, round(s.churn_probability, 3) as churn_probability, c.rfm_segment, "
        f"round(c.monetary_365d, 0) as spend_365d{', ' + reasons if reasons else ''} from ml.churn_scores s "
        "join marts.customer_360 c using (customer_id) where s.as_of_date = ? "
        "order by s.churn_probability * c.monetary_365d desc limit 10",
        [as_of],
    ).df()
    return _figure_html(fig) + "<h3>At-risk customers worth a call (risk × 12-month spend)</h3>" + _table(top)


def nps_and_engagement(con, as_of: date) -> str:
    """NPS and the relationship engagement index per RFM segment."""
    import plotly.express as px

    frame = _query(
        con,
        "select segment, customers, nps, avg_nps, avg_engagement_index from marts.segment_health "
        "where segment_type = 'rfm_segment' and as_of_date = ? order by segment",
        ("marts.segment_health",),
        [as_of],
    )
    long = frame.melt(id_vars="segment", value_vars=["nps", "avg_engagement_index"], var_name="metric")
    fig = px.bar(
        long,
        x="segment",
        y="value",
        color="metric",
        barmode="group",
        color_discrete_sequence=PALETTE,
        title="NPS (promoters − detractors, %) and engagement index (0–100) per RFM segment",
        labels={"segment": "RFM segment", "value": "points"},
    )
    return _figure_html(fig) + _table(frame)


def sentiment_and_aspects(con, as_of: date) -> str:
    """Review sentiment per month, and the aspects negative reviews talk about."""
    import plotly.express as px

    monthly = _query(
        con,
        "with latest as (select * from ml.review_sentiment where as_of_date <= ? "
        "qualify row_number() over (partition by review_id order by scored_at desc) = 1) "
        "select date_trunc('month', r.reviewed_at) as month, s.label, count(*) as reviews "
        "from latest s join staging.stg_shop__reviews r using (review_id) group by 1, 2 order by 1",
        ("ml.review_sentiment", "staging.stg_shop__reviews"),
        [as_of],
    )
    fig = px.bar(
        monthly,
        x="month",
        y="reviews",
        color="label",
        color_discrete_map=SENTIMENT_COLOURS,
        title="Review sentiment per month",
        labels={"month": "month", "reviews": "reviews"},
    )
    body = _figure_html(fig)
    try:
        aspects = _query(
            con,
            "with latest as (select * from ml.review_aspects where as_of_date <= ? "
            "qualify row_number() over (partition by review_id, aspect order by scored_at desc) = 1) "
            "select aspect, label, count(*) as mentions from latest group by 1, 2 order by 1",
            ("ml.review_aspects",),
            [as_of],
        )
    except NoData as reason:
        return body + _note(f"no aspect scores: {reason}")
    fig = px.bar(
        aspects,
        x="mentions",
        y="aspect",
        color="label",
        orientation="h",
        color_discrete_map=SENTIMENT_COLOURS,
        title="What reviews talk about, and how they feel about it",
        labels={"mentions": "reviews mentioning the aspect", "aspect": "aspect"},
    )
    return body + _figure_html(fig)


def offers_and_uplift(con, as_of: date) -> str:
    """Today's recommendations per offer, and the uplift campaigns realised against their control groups."""
    import plotly.express as px

    realised = _query(
        con,
        "select o.offer_type, "
        "avg(case when r.assignment_group = 'treatment' then r.has_responded::int end) as treated_response, "
        "avg(case when r.assignment_group = 'control' then r.has_responded::int end) as control_response, "
        "count(*) as customers from staging.stg_marketing__offer_responses r "
        "join staging.stg_marketing__offers o using (offer_id) where r.sent_at < ? group by 1 order by 1",
        ("staging.stg_marketing__offer_responses", "staging.stg_marketing__offers"),
        [as_of],
    )
    realised["realised_uplift"] = realised["treated_response"] - realised["control_response"]
    fig = px.bar(
        realised,
        x="offer_type",
        y="realised_uplift",
        color_discrete_sequence=PALETTE,
        title="Realised uplift per offer: response rate of the treated minus their randomised control group",
        labels={"offer_type": "offer", "realised_uplift": "uplift (share of customers)"},
    )
    fig.update_yaxes(tickformat=".1%")
    body = (
        _figure_html(fig)
        + _table(realised)
        + "<h3>Offers selected today (within budget, capacity, consent and cool-downs)</h3>"
    )
    try:
        recommended = _query(
            con,
            "select offer_id, channel, count(*) as customers, round(avg(expected_value), 2) as avg_expected_value "
            "from ml.offer_recommendations where as_of_date = ? and is_selected group by 1, 2 order by 3 desc",
            ("ml.offer_recommendations",),
            [as_of],
        )
    except NoData as reason:
        return body + _note(
            f"No offers selected: {reason} (rapport-nbo is scored only once its gate accepts a version)."
        )
    return body + _table(recommended)


def _gate_results(con, as_of: date) -> pd.DataFrame | None:
    if not warehouse.table_exists(con, "ops", "gate_results"):
        return None
    frame = con.execute(
        "select suite, success, evaluated, failed, data_docs, checked_at from ops.gate_results "
        "where as_of_date = ? qualify row_number() over (partition by suite order by checked_at desc) = 1 "
        "order by suite",
        [as_of],
    ).df()
    return frame if len(frame) else None


def data_quality(con, as_of: date) -> str:
    """The latest verdict of every gate for this date, linked to its Data Docs."""
    gates = _gate_results(con, as_of)
    if gates is None:
        raise NoData("ops.gate_results holds no gate for this date")
    docs = gates.pop("data_docs")
    gates["data_docs"] = [
        f"<a href='{Path(d).as_uri()}'>Data Docs</a>" if isinstance(d, str) and d else "–" for d in docs
    ]
    return gates.to_html(index=False, border=0, escape=False, na_rep="–")


def model_cards(con, as_of: date) -> str:
    """The @champion of every model: version, holdout metrics, when and why it was promoted."""
    import mlflow

    from rapport.ml.registry import champion_version, configure_mlflow

    configure_mlflow()
    client = mlflow.MlflowClient()
    rows = []
    for model in MODELS:
        champion = champion_version(f"rapport-{model}")
        if champion is None:
            continue
        metrics = client.get_run(champion.run_id).data.metrics if champion.run_id else {}
        rows.append(
            {
                "model": f"rapport-{model}",
                "champion": champion.version,
                "registered": datetime.fromtimestamp(champion.creation_timestamp / 1000, UTC).strftime("%Y-%m-%d"),
                **{k: round(metrics[k], 4) for k in CARD_METRICS if k in metrics},
                "promotion reason": champion.tags.get("promotion_reason", ""),
            }
        )
    if not rows:
        raise NoData("no model has a @champion yet")
    cards = pd.DataFrame(rows)
    metrics = [m for m in CARD_METRICS if m in cards]
    return _table(cards[["model", "champion", "registered", *metrics, "promotion reason"]])


SECTIONS = (
    Section("What this report rests on", provenance),
    Section("Relationship health by segment", health_by_segment),
    Section("Segment sizes and movement", segment_movement),
    Section("Churn risk", churn_risk),
    Section("NPS and engagement", nps_and_engagement),
    Section("Review sentiment and its aspects", sentiment_and_aspects),
    Section("Offers and realised uplift", offers_and_uplift),
    Section("Data quality", data_quality),
    Section("Models behind the scores", model_cards),
)
SECTION_TITLES = tuple(s.title for s in SECTIONS)

STYLE = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;color:#222;padding:0 1em}
table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f3f3f3}section{margin-bottom:2.5em}.note{color:#555}section.empty h2{color:#999}"""


def build_report(as_of: date, run_id: str | None = None, path: Path | None = None) -> Path:
    """Write ``reports/relationship_<as_of>.html`` (atomically) and return its path."""
    from plotly.offline import get_plotlyjs

    settings = get_settings()
    con = warehouse.connect(read_only=True)
    parts = []
    try:
        for section in SECTIONS:
            try:
                parts.append(f"<section><h2>{html.escape(section.title)}</h2>{section.render(con, as_of)}</section>")
            except NoData as reason:
                parts.append(
                    f"<section class='empty'><h2>{html.escape(section.title)}</h2>{_note(f'No data: {reason}')}"
                    "</section>"
                )
    finally:
        con.close()
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rapport — relationship report {as_of}</title>
<style>{STYLE}</style><script type="text/javascript">{get_plotlyjs()}</script></head><body>
<h1>Relationship report</h1>
<p>Data as of <b>{as_of}</b> · run <code>{html.escape(run_id or "-")}</code> · generated {generated}</p>
{"".join(parts)}
</body></html>"""
    path = Path(path or settings.reports_dir / f"relationship_{as_of.isoformat()}.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
