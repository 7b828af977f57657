-- RFM scores 1..5, health and engagement indices 0..100, shares and probabilities 0..1: rows outside fail.
select
    customer_id,
    rfm_recency_score,
    rfm_frequency_score,
    rfm_monetary_score,
    engagement_index,
    health_index,
    churn_probability
from {{ ref('customer_360') }}
where rfm_recency_score not between 1 and 5
    or rfm_frequency_score not between 1 and 5
    or rfm_monetary_score not between 1 and 5
    or health_index not between 0 and 100
    or engagement_index not between 0 and 100
    or churn_probability not between 0 and 1
    or content_response_rate_90d not between 0 and 1
    or store_order_share_365d not between 0 and 1
    or abs(coalesce(web_share_90d, 0) + coalesce(app_share_90d, 0) + coalesce(store_share_90d, 0)
        + coalesce(messaging_share_90d, 0) + coalesce(call_center_share_90d, 0)
        + coalesce(community_share_90d, 0) - case when touchpoints_90d > 0 then 1 else 0 end) > 1e-9
