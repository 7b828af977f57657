# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Explore the customer 360
#
# What the customer 360 holds after a pipeline run, how the RFM segments differ, and how churn
# risk and sentiment sit across them. It reads the published BI copy (read-only), exactly as a
# BI tool would, so it can run while the pipeline writes the warehouse.
# Run `make demo` first. Open it in Jupyter with jupytext, or run it as a script.

# %%
from rapport.publish import open_published

bi = open_published()
tables = bi.execute("select table_schema || '.' || table_name from information_schema.tables order by 1").fetchall()
print("published tables:", [t for (t,) in tables])

# %% [markdown]
# ## Segment profiles

# %%
profiles = bi.execute(
    """
    select rfm_segment,
           count(*) as customers,
           round(avg(recency_days), 0) as avg_recency_days,
           round(avg(frequency_365d), 2) as avg_orders_365d,
           round(avg(monetary_365d), 0) as avg_spend_365d,
           round(avg(latest_nps), 1) as avg_latest_nps,
           round(avg(case when has_marketing_consent then 1 else 0 end), 2) as marketing_consent_share
    from marts.customer_360
    group by rfm_segment
    order by customers desc
    """
).df()
print(profiles.to_string(index=False))
assert profiles["customers"].sum() == bi.execute("select count(*) from marts.customer_360").fetchone()[0]

# %% [markdown]
# ## Churn risk by segment
# Customers without profiling consent are not scored, so they are absent here.

# %%
risk = bi.execute(
    """
    select c.rfm_segment, count(*) as scored, round(avg(s.churn_probability), 3) as avg_churn_probability
    from ml.churn_scores s join marts.customer_360 c using (customer_id)
    group by 1 order by avg_churn_probability desc
    """
).df()
print(risk.to_string(index=False))

# %% [markdown]
# ## One customer's journey across channels
# The touchpoints identity stitching resolved to one customer (device ids at login, loyalty cards in
# store, phone numbers at the call center), month by month, for the customer with the most channels.

# %%
journey_customer = bi.execute(
    "select customer_id from marts.fct_touchpoints group by 1 "
    "order by count(distinct channel) desc, count(*) desc, customer_id limit 1"
).fetchone()[0]
journey = bi.execute(
    """
    select date_trunc('month', occurred_at) as month, channel, count(*) as touchpoints,
           string_agg(distinct touchpoint_type, ', ' order by touchpoint_type) as what
    from marts.fct_touchpoints where customer_id = ?
    group by all order by month, channel
    """,
    [journey_customer],
).df()
print(f"customer {journey_customer}:")
print(journey.tail(24).to_string(index=False))
assert journey["channel"].nunique() >= 3, "identity stitching should join at least three channels for this customer"

# %% [markdown]
# ## Sentiment of reviews

# %%
sentiment = bi.execute(
    "select label, count(*) as reviews, round(avg(score), 3) as avg_score "
    "from ml.review_sentiment group by 1 order by 1"
).df()
print(sentiment.to_string(index=False))
bi.close()
