"""A one-page, self-contained HTML report of the relationship state, from marts and score tables only."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from rapport import warehouse
from rapport.settings import get_settings

# Okabe-Ito: a colour-blind safe palette.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def _query(con, sql: str, table: str, params: list | None = None) -> pd.DataFrame | None:
    """Rows of ``sql``, or None when ``table`` has not been built yet or holds nothing for the query."""
    schema, name = table.split(".")
    if not warehouse.table_exists(con, schema, name):
        return None
    frame = con.execute(sql, params or []).df()
    return frame if len(frame) else None


def _figure_html(fig) -> str:
    """A figure as a ``<div>``; plotly.js itself is inlined once in the page head."""
    fig.update_layout(template="plotly_white", margin={"l": 40, "r": 20, "t": 50, "b": 40}, height=360)
    return fig.to_html(full_html=False, include_plotlyjs=False)


def build_report(as_of: date, run_id: str | None = None, path: Path | None = None) -> Path:
    """Write ``var/reports/relationship_<as_of>.html`` and return its path."""
    import plotly.express as px
    from plotly.offline import get_plotlyjs

    settings = get_settings()
    con = warehouse.connect(read_only=True)
    sections: list[str] = []
    try:
        segments = _query(
            con,
            "select rfm_segment, count(*) as customers, round(sum(monetary_365d), 0) as revenue_365d "
            "from marts.customer_360 group by 1 order by 2 desc",
            "marts.customer_360",
        )
        if segments is not None:
            fig = px.bar(
                segments,
                x="rfm_segment",
                y="customers",
                color_discrete_sequence=PALETTE,
                title="Customers per RFM segment",
                labels={"rfm_segment": "RFM segment", "customers": "customers"},
            )
            sections.append(_section("Segments", _figure_html(fig) + _table(segments)))
        churn = _query(
            con,
            "select churn_probability, risk_band, model_version from ml.churn_scores where as_of_date = ?",
            "ml.churn_scores",
            [as_of],
        )
        if churn is not None:
            fig = px.histogram(
                churn,
                x="churn_probability",
                nbins=20,
                color="risk_band",
                color_discrete_map={"low": PALETTE[0], "medium": PALETTE[1], "high": PALETTE[3]},
                title=f"Churn risk distribution (model version {churn['model_version'].iloc[0]})",
                labels={"churn_probability": "probability of no purchase in 90 days"},
            )
            top = con.execute(
                "select s.customer_id, round(s.churn_probability, 3) as churn_probability, c.rfm_segment, "
                "c.recency_days, round(c.monetary_365d, 0) as monetary_365d from ml.churn_scores s "
                "join marts.customer_360 c using (customer_id) "
                "where s.as_of_date = ? order by s.churn_probability * c.monetary_365d desc limit 10",
                [as_of],
            ).df()
            sections.append(
                _section(
                    "Churn risk",
                    _figure_html(fig) + "<h3>At-risk customers worth a call (risk × 12-month spend)</h3>" + _table(top),
                )
            )
        offers = _query(
            con,
            "select offer_id, channel, count(*) as customers, round(avg(expected_value), 2) as avg_expected_value "
            "from ml.offer_recommendations where as_of_date = ? and rank = 1 group by 1, 2 order by 3 desc",
            "ml.offer_recommendations",
            [as_of],
        )
        if offers is not None:
            fig = px.bar(
                offers,
                x="offer_id",
                y="customers",
                color="channel",
                color_discrete_sequence=PALETTE,
                title="Next best offer (rank 1)",
                labels={"offer_id": "offer", "customers": "customers"},
            )
            sections.append(_section("Next best offers", _figure_html(fig) + _table(offers)))
        sentiment = _query(
            con,
            "select date_trunc('month', r.reviewed_at) as month, s.label, count(*) as reviews "
            "from ml.review_sentiment s join staging.stg_shop__reviews r using (review_id) "
            "where s.as_of_date = ? group by 1, 2 order by 1",
            "ml.review_sentiment",
            [as_of],
        )
        if sentiment is not None:
            fig = px.bar(
                sentiment,
                x="month",
                y="reviews",
                color="label",
                title="Review sentiment per month",
                labels={"month": "month", "reviews": "reviews"},
                color_discrete_map={"negative": PALETTE[3], "neutral": PALETTE[1], "positive": PALETTE[0]},
            )
            sections.append(_section("Review sentiment", _figure_html(fig)))
        gates = _query(
            con,
            "select suite, success, evaluated, failed, checked_at from ops.gate_results "
            "qualify row_number() over (partition by suite order by checked_at desc) = 1 order by suite",
            "ops.gate_results",
        )
        if gates is not None:
            sections.append(
                _section(
                    "Data quality gates",
                    _table(gates) + f"<p>Data Docs: <code>{html.escape(str(settings.quality_dir))}</code></p>",
                )
            )
        counts = pd.DataFrame(
            sorted(warehouse.row_counts(con, ("raw", "marts", "ml")).items()), columns=["table", "rows"]
        )
        sections.append(_section("Tables", _table(counts)))
    finally:
        con.close()

    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rapport — relationship report {as_of}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;font-size:0.9em}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
th{{background:#f3f3f3}}section{{margin-bottom:2em}}</style>
<script type="text/javascript">{get_plotlyjs()}</script></head><body>
<h1>Relationship report</h1>
<p>Data as of <b>{as_of}</b> (features and scores use data before this date) · run <code>{html.escape(run_id or "-")}</code>
· generated {generated}</p>
{"".join(sections)}
</body></html>"""
    path = Path(path or settings.reports_dir / f"relationship_{as_of.isoformat()}.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def _section(title: str, body: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{body}</section>"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, escape=True)
