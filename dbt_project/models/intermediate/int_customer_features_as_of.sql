{%- set rfm_score_columns = {
    'recency': 'rfm_recency_score',
    'frequency': 'rfm_frequency_score',
    'monetary': 'rfm_monetary_score',
} -%}

with

as_of_dates as (

    select * from {{ ref('int_feature_cutoffs') }}

),

customers as (

    select * from {{ ref('stg_shop__customers') }}

),

order_versions as (

    select * from {{ ref('stg_shop__order_versions') }}

),

touchpoints as (

    select * from {{ ref('int_touchpoints') }}

),

nps_responses as (

    select * from {{ ref('stg_survey__nps_responses') }}

),

reviews as (

    select * from {{ ref('stg_shop__reviews') }}

),

tier_changes as (

    select * from {{ ref('stg_loyalty__tier_changes') }}

),

consent_state as (

    select * from {{ ref('int_consent_state') }}

),

customer_dates as (

    select
        customers.customer_id,
        customers.signup_at,
        as_of_dates.as_of_date,
        as_of_dates.as_of_at,
        as_of_dates.is_feature_cutoff,
        as_of_dates.is_reporting_date
    from customers
    inner join as_of_dates on customers.signup_at < as_of_dates.as_of_at

),

known_orders as (

    select
        customer_dates.customer_id,
        customer_dates.as_of_date,
        customer_dates.as_of_at,
        order_versions.ordered_at,
        order_versions.status,
        order_versions.order_total,
        order_versions.discount_amount,
        order_versions.updated_at
    from customer_dates
    inner join order_versions
        on order_versions.customer_id = customer_dates.customer_id
        and order_versions.ordered_at < customer_dates.as_of_at
        and {{ version_known_at('order_versions', 'customer_dates.as_of_at') }}

),

purchases as (

    select
        customer_id,
        as_of_date,
        as_of_at,
        ordered_at,
        status,
        order_total,
        discount_amount
    from known_orders
    where status in ('completed', 'returned')

),

order_features as (

    select
        customer_id,
        as_of_date,
        max(ordered_at) as last_ordered_at,
        count(*) filter (where ordered_at >= as_of_at - interval '30 days') as frequency_30d,
        count(*) filter (where ordered_at >= as_of_at - interval '90 days') as frequency_90d,
        count(*) filter (where ordered_at >= as_of_at - interval '180 days') as frequency_180d,
        count(*) filter (where ordered_at >= as_of_at - interval '365 days') as frequency_365d,
        coalesce(sum(order_total) filter (
            where status = 'completed' and ordered_at >= as_of_at - interval '30 days'
        ), 0) as monetary_30d,
        coalesce(sum(order_total) filter (
            where status = 'completed' and ordered_at >= as_of_at - interval '90 days'
        ), 0) as monetary_90d,
        coalesce(sum(order_total) filter (
            where status = 'completed' and ordered_at >= as_of_at - interval '365 days'
        ), 0) as monetary_365d,
        count(*) filter (
            where status = 'completed' and ordered_at >= as_of_at - interval '365 days'
        ) as completed_orders_365d,
        count(*) filter (
            where status = 'returned' and ordered_at >= as_of_at - interval '365 days'
        ) as returns_365d,
        sum(discount_amount) filter (where ordered_at >= as_of_at - interval '365 days') as discount_365d,
        sum(order_total + discount_amount) filter (
            where ordered_at >= as_of_at - interval '365 days'
        ) as gross_amount_365d
    from purchases
    group by customer_id, as_of_date

),

order_version_features as (

    select
        customer_id,
        as_of_date,
        max(updated_at) as last_order_updated_at
    from known_orders
    group by customer_id, as_of_date

),

known_touchpoints as (

    select
        customer_dates.customer_id,
        customer_dates.as_of_date,
        customer_dates.as_of_at,
        touchpoints.channel,
        touchpoints.touchpoint_type,
        touchpoints.occurred_at,
        touchpoints.known_at
    from customer_dates
    inner join touchpoints
        on touchpoints.customer_id = customer_dates.customer_id
        and touchpoints.known_at < customer_dates.as_of_at
        and touchpoints.occurred_at >= customer_dates.as_of_at - interval '365 days'

),

engagement_features as (

    select
        customer_id,
        as_of_date,
        max(known_at) as last_touchpoint_known_at,
        count(*) filter (
            where channel = 'web' and occurred_at >= as_of_at - interval '90 days'
        ) as web_events_90d,
        count(*) filter (
            where channel = 'app' and occurred_at >= as_of_at - interval '90 days'
        ) as app_events_90d,
        count(*) filter (
            where channel = 'store' and occurred_at >= as_of_at - interval '90 days'
        ) as store_visits_90d,
        count(*) filter (
            where channel = 'call_center' and occurred_at >= as_of_at - interval '180 days'
        ) as call_center_contacts_180d,
        count(*) filter (
            where channel = 'call_center' and touchpoint_type = 'complaint'
            and occurred_at >= as_of_at - interval '180 days'
        ) as complaints_180d,
        count(*) filter (
            where channel = 'email' and touchpoint_type = 'opened'
            and occurred_at >= as_of_at - interval '90 days'
        ) as email_opens_90d,
        count(*) filter (
            where channel = 'email' and touchpoint_type = 'clicked'
            and occurred_at >= as_of_at - interval '90 days'
        ) as email_clicks_90d,
        count(*) filter (
            where channel = 'community' and occurred_at >= as_of_at - interval '90 days'
        ) as community_activities_90d,
        count(*) filter (where touchpoint_type = 'unsubscribed') as unsubscribes_365d
    from known_touchpoints
    group by customer_id, as_of_date

),

channel_counts as (

    select
        customer_id,
        as_of_date,
        channel,
        count(*) as touchpoints,
        max(occurred_at) as last_occurred_at
    from known_touchpoints
    where occurred_at >= as_of_at - interval '90 days'
    group by customer_id, as_of_date, channel

),

top_channel_counts as (

    {{ deduplicate(
        'channel_counts',
        partition_by='customer_id, as_of_date',
        order_by='touchpoints desc, last_occurred_at desc, channel',
    ) }}

),

preferred_channels as (

    select
        customer_id,
        as_of_date,
        channel as preferred_channel
    from top_channel_counts

),

nps_features as (

    select
        customer_dates.customer_id,
        customer_dates.as_of_date,
        {{ arg_max('nps_responses.nps_score', 'nps_responses.answered_at') }} as latest_nps,
        max(nps_responses.answered_at) as last_answered_at
    from customer_dates
    inner join nps_responses
        on nps_responses.customer_id = customer_dates.customer_id
        and nps_responses.answered_at < customer_dates.as_of_at
    group by customer_dates.customer_id, customer_dates.as_of_date

),

review_features as (

    select
        customer_dates.customer_id,
        customer_dates.as_of_date,
        count(*) as review_count,
        avg(reviews.rating) as avg_review_rating,
        max(reviews.reviewed_at) as last_reviewed_at
    from customer_dates
    inner join reviews
        on reviews.customer_id = customer_dates.customer_id
        and reviews.reviewed_at < customer_dates.as_of_at
    group by customer_dates.customer_id, customer_dates.as_of_date

),

tier_features as (

    select
        customer_dates.customer_id,
        customer_dates.as_of_date,
        {{ arg_max('tier_changes.loyalty_tier', 'tier_changes.valid_from_at') }} as loyalty_tier,
        max(tier_changes.valid_from_at) as last_tier_change_at
    from customer_dates
    inner join tier_changes
        on tier_changes.customer_id = customer_dates.customer_id
        and tier_changes.valid_from_at < customer_dates.as_of_at
    group by customer_dates.customer_id, customer_dates.as_of_date

),

consent_features as (

    select
        customer_id,
        as_of_date,
        {{ arg_max('is_granted', 'recorded_at', "purpose = 'analytics'") }} as has_analytics_consent,
        {{ arg_max('is_granted', 'recorded_at', "purpose = 'profiling'") }} as has_profiling_consent,
        bool_or(is_granted) filter (where purpose = 'marketing') as has_marketing_consent,
        {{ arg_max('is_granted', 'recorded_at', "purpose = 'marketing' and channel in ('email', 'all')") }}
            as has_email_consent,
        {{ arg_max('is_granted', 'recorded_at', "purpose = 'marketing' and channel in ('sms', 'all')") }}
            as has_sms_consent,
        {{ arg_max('is_granted', 'recorded_at', "purpose = 'marketing' and channel in ('push', 'all')") }}
            as has_push_consent,
        max(recorded_at) as last_consent_at
    from consent_state
    group by customer_id, as_of_date

),

joined as (

    select
        customer_dates.customer_id,
        customer_dates.as_of_date,
        customer_dates.is_feature_cutoff,
        customer_dates.is_reporting_date,
        cast(customer_dates.signup_at as date) as signup_date,
        {{ dbt.datediff('customer_dates.signup_at', 'customer_dates.as_of_date', 'day') }} as tenure_days,
        {{ dbt.datediff('order_features.last_ordered_at', 'customer_dates.as_of_date', 'day') }} as recency_days,
        coalesce(order_features.frequency_30d, 0) as frequency_30d,
        coalesce(order_features.frequency_90d, 0) as frequency_90d,
        coalesce(order_features.frequency_180d, 0) as frequency_180d,
        coalesce(order_features.frequency_365d, 0) as frequency_365d,
        coalesce(order_features.monetary_30d, 0) as monetary_30d,
        coalesce(order_features.monetary_90d, 0) as monetary_90d,
        coalesce(order_features.monetary_365d, 0) as monetary_365d,
        order_features.monetary_365d / nullif(order_features.completed_orders_365d, 0) as avg_order_value_365d,
        coalesce(order_features.returns_365d, 0) as returns_365d,
        coalesce(order_features.discount_365d / nullif(order_features.gross_amount_365d, 0), 0) as discount_share_365d,
        coalesce(engagement_features.web_events_90d, 0) as web_events_90d,
        coalesce(engagement_features.app_events_90d, 0) as app_events_90d,
        coalesce(engagement_features.store_visits_90d, 0) as store_visits_90d,
        coalesce(engagement_features.call_center_contacts_180d, 0) as call_center_contacts_180d,
        coalesce(engagement_features.complaints_180d, 0) as complaints_180d,
        coalesce(engagement_features.email_opens_90d, 0) as email_opens_90d,
        coalesce(engagement_features.email_clicks_90d, 0) as email_clicks_90d,
        coalesce(engagement_features.community_activities_90d, 0) as community_activities_90d,
        coalesce(engagement_features.unsubscribes_365d, 0) as unsubscribes_365d,
        preferred_channels.preferred_channel,
        nps_features.latest_nps,
        coalesce(review_features.review_count, 0) as review_count,
        review_features.avg_review_rating,
        tier_features.loyalty_tier,
        coalesce(consent_features.has_analytics_consent, false) as has_analytics_consent,
        coalesce(consent_features.has_profiling_consent, false) as has_profiling_consent,
        coalesce(consent_features.has_marketing_consent, false) as has_marketing_consent,
        coalesce(consent_features.has_email_consent, false) as has_email_consent,
        coalesce(consent_features.has_sms_consent, false) as has_sms_consent,
        coalesce(consent_features.has_push_consent, false) as has_push_consent,
        order_version_features.last_order_updated_at,
        greatest(
            order_features.last_ordered_at,
            order_version_features.last_order_updated_at,
            engagement_features.last_touchpoint_known_at,
            nps_features.last_answered_at,
            review_features.last_reviewed_at,
            tier_features.last_tier_change_at,
            consent_features.last_consent_at
        ) as last_source_event_at
    from customer_dates
    left join order_features using (customer_id, as_of_date)
    left join order_version_features using (customer_id, as_of_date)
    left join engagement_features using (customer_id, as_of_date)
    left join preferred_channels using (customer_id, as_of_date)
    left join nps_features using (customer_id, as_of_date)
    left join review_features using (customer_id, as_of_date)
    left join tier_features using (customer_id, as_of_date)
    left join consent_features using (customer_id, as_of_date)

),

rfm_scores as (

    select
        customer_id,
        as_of_date,
        ntile(5) over (partition by as_of_date order by recency_days desc, customer_id) as rfm_recency_score,
        ntile(5) over (partition by as_of_date order by frequency_365d, customer_id) as rfm_frequency_score,
        ntile(5) over (partition by as_of_date order by monetary_365d, customer_id) as rfm_monetary_score
    from joined
    where frequency_365d > 0

),

scored as (

    select
        joined.*,
        coalesce(rfm_scores.rfm_recency_score, 1) as rfm_recency_score,
        coalesce(rfm_scores.rfm_frequency_score, 1) as rfm_frequency_score,
        coalesce(rfm_scores.rfm_monetary_score, 1) as rfm_monetary_score
    from joined
    left join rfm_scores using (customer_id, as_of_date)

),

final as (

    select
        *,
        {{ first_matching_rule(var("rfm_segments"), rfm_score_columns) }} as rfm_segment,
        case
            when latest_nps >= 9 then 'promoter'
            when latest_nps >= 7 then 'passive'
            when latest_nps is not null then 'detractor'
        end as nps_category,
        {{ loyalty_tier_rank('loyalty_tier') }} as loyalty_tier_rank,
        frequency_365d > 0 as is_active_365d,
        frequency_90d - (frequency_180d - frequency_90d) as order_trend
    from scored

)

select * from final
