{%- set health_components = {
    'recency': '(rfm_recency_score - 1) / 4.0',
    'frequency': '(rfm_frequency_score - 1) / 4.0',
    'value': '(rfm_monetary_score - 1) / 4.0',
    'nps': 'latest_nps / 10.0',
    'engagement': 'engagement_index / 100.0',
    'sentiment': '(sentiment_level + 1) / 2.0',
    'churn': '1 - churn_probability',
} -%}
{%- set value_tier_scores = {'monetary': 'rfm_monetary_score'} -%}

with

customer_features as (

    select * from {{ ref('int_customer_features_as_of') }}
    where is_reporting_date

),

customers as (

    select * from {{ ref('dim_customer') }}

),

relationship as (

    select * from {{ ref('int_customer_relationship_as_of') }}

),

scores as (

    select * from {{ ref('int_customer_scores_as_of') }}

),

joined as (

    select
        customer_features.customer_id,
        customer_features.as_of_date,
        customer_features.signup_date,
        customer_features.tenure_days,
        customers.signup_channel,
        customer_features.recency_days,
        customer_features.frequency_30d,
        customer_features.frequency_90d,
        customer_features.frequency_365d,
        customer_features.monetary_30d,
        customer_features.monetary_90d,
        customer_features.monetary_365d,
        customer_features.avg_order_value_365d,
        customer_features.rfm_recency_score,
        customer_features.rfm_frequency_score,
        customer_features.rfm_monetary_score,
        customer_features.rfm_segment,
        case
            when not customer_features.is_active_365d then 'inactive'
            else {{ first_matching_rule(var('value_tiers'), value_tier_scores) }}
        end as value_tier,
        relationship.first_order_date,
        relationship.lifetime_orders,
        relationship.historic_clv,
        scores.predicted_clv_365d,
        scores.expected_orders_365d,
        customer_features.web_events_90d,
        customer_features.app_events_90d,
        customer_features.store_visits_90d,
        customer_features.call_center_contacts_180d,
        customer_features.complaints_180d,
        customer_features.email_opens_90d,
        customer_features.email_clicks_90d,
        customer_features.community_activities_90d,
        customer_features.preferred_channel,
        relationship.touchpoints_90d,
        relationship.web_share_90d,
        relationship.app_share_90d,
        relationship.store_share_90d,
        relationship.messaging_share_90d,
        relationship.call_center_share_90d,
        relationship.community_share_90d,
        relationship.store_orders_365d,
        relationship.online_orders_365d,
        relationship.store_order_share_365d,
        relationship.preferred_time_of_day,
        relationship.preferred_device,
        customer_features.latest_nps,
        customer_features.nps_category,
        relationship.trailing_nps_365d,
        relationship.nps_responses_365d,
        relationship.messages_sent_90d,
        relationship.message_responses_90d,
        relationship.content_response_rate_90d,
        relationship.feedback_365d,
        relationship.engagement_index,
        customer_features.review_count,
        customer_features.avg_review_rating,
        scores.scored_reviews_365d,
        scores.sentiment_level,
        scores.sentiment_trend,
        case
            when scores.sentiment_level is null then 'unknown'
            when scores.sentiment_level < {{ var('sentiment_negative_below') }} then 'negative'
            when scores.sentiment_level > {{ var('sentiment_positive_above') }} then 'positive'
            else 'neutral'
        end as sentiment_band,
        scores.last_negative_review_date,
        customer_features.loyalty_tier,
        customers.loyalty_tier_since_date,
        customers.loyalty_tier_changes,
        customer_features.has_analytics_consent,
        customer_features.has_profiling_consent,
        customer_features.has_marketing_consent,
        customer_features.has_email_consent,
        customer_features.has_sms_consent,
        customer_features.has_push_consent,
        scores.churn_probability,
        scores.churn_risk_band,
        scores.churn_top_reason,
        scores.churn_model_version,
        scores.next_best_offer_id,
        scores.next_best_offer_channel,
        scores.next_best_offer_expected_value,
        scores.next_best_offer_reason
    from customer_features
    inner join customers on customers.customer_id = customer_features.customer_id
    inner join relationship on relationship.customer_id = customer_features.customer_id
    left join scores on scores.customer_id = customer_features.customer_id

),

final as (

    select
        *,
        {{ weighted_index(health_components, var('health_weights')) }} as health_index
    from joined

)

select * from final
