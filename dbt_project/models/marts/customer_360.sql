with

customer_features as (

    select * from {{ ref('int_customer_features_as_of') }}

),

final as (

    select
        customer_id,
        as_of_date,
        signup_date,
        tenure_days,
        recency_days,
        frequency_30d,
        frequency_90d,
        frequency_365d,
        monetary_30d,
        monetary_90d,
        monetary_365d,
        avg_order_value_365d,
        rfm_recency_score,
        rfm_frequency_score,
        rfm_monetary_score,
        rfm_segment,
        web_events_90d,
        app_events_90d,
        store_visits_90d,
        call_center_contacts_180d,
        complaints_180d,
        email_opens_90d,
        email_clicks_90d,
        community_activities_90d,
        preferred_channel,
        latest_nps,
        nps_category,
        review_count,
        avg_review_rating,
        loyalty_tier,
        has_analytics_consent,
        has_profiling_consent,
        has_marketing_consent,
        has_email_consent,
        has_sms_consent,
        has_push_consent,
    from customer_features
    where is_reporting_date

)

select * from final
