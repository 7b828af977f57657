with

customer_features as (

    select * from {{ ref('int_customer_features_as_of') }}

),

final as (

    select
        customer_id,
        as_of_date,
        coalesce(recency_days, 9999) as recency_days,
        frequency_30d,
        frequency_90d,
        frequency_180d,
        frequency_365d,
        monetary_30d,
        monetary_90d,
        monetary_365d,
        coalesce(avg_order_value_365d, 0) as avg_order_value_365d,
        order_trend,
        tenure_days,
        rfm_recency_score,
        rfm_frequency_score,
        rfm_monetary_score,
        web_events_90d,
        app_events_90d,
        store_visits_90d,
        call_center_contacts_180d,
        complaints_180d,
        email_opens_90d,
        email_clicks_90d,
        community_activities_90d,
        latest_nps,
        review_count,
        avg_review_rating,
        returns_365d,
        discount_share_365d,
        unsubscribes_365d,
        loyalty_tier_rank,
        is_active_365d,
        has_profiling_consent,
        has_marketing_consent
    from customer_features
    where is_feature_cutoff

)

select * from final
