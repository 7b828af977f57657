{%- set engagement_components = {
    'content_response': 'content_response_rate_90d',
    'community': 'least(1.0, community_activities_90d / ' ~ var('engagement_community_cap') ~ '.0)',
    'feedback': 'least(1.0, feedback_365d / ' ~ var('engagement_feedback_cap') ~ '.0)',
} -%}

with

reporting_date as (

    select * from {{ ref('int_feature_cutoffs') }}
    where is_reporting_date

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

interactions as (

    select * from {{ ref('stg_marketing__interactions') }}

),

nps_responses as (

    select * from {{ ref('stg_survey__nps_responses') }}

),

reviews as (

    select * from {{ ref('stg_shop__reviews') }}

),

customer_dates as (

    select
        customers.customer_id,
        reporting_date.as_of_date,
        reporting_date.as_of_at
    from customers
    inner join reporting_date on customers.signup_at < reporting_date.as_of_at

),

purchases as (

    -- each order in the version known just before the as-of date; cancelled orders never count
    select
        customer_dates.customer_id,
        customer_dates.as_of_at,
        order_versions.ordered_at,
        order_versions.channel,
        order_versions.status,
        order_versions.order_total
    from customer_dates
    inner join order_versions
        on order_versions.customer_id = customer_dates.customer_id
        and order_versions.ordered_at < customer_dates.as_of_at
        and {{ version_known_at('order_versions', 'customer_dates.as_of_at') }}
    where order_versions.status in ('completed', 'returned')

),

order_context as (

    select
        customer_id,
        min(ordered_at) as first_ordered_at,
        count(*) as lifetime_orders,
        coalesce(sum(order_total) filter (where status = 'completed'), 0) as historic_clv,
        count(*) filter (
            where channel = 'store' and ordered_at >= as_of_at - interval '365 days'
        ) as store_orders_365d,
        count(*) filter (
            where channel <> 'store' and ordered_at >= as_of_at - interval '365 days'
        ) as online_orders_365d
    from purchases
    group by customer_id

),

known_touchpoints as (

    select
        customer_dates.customer_id,
        customer_dates.as_of_at,
        touchpoints.channel,
        touchpoints.device,
        touchpoints.occurred_at
    from customer_dates
    inner join touchpoints
        on touchpoints.customer_id = customer_dates.customer_id
        and touchpoints.known_at < customer_dates.as_of_at
        and touchpoints.occurred_at >= customer_dates.as_of_at - interval '365 days'

),

channel_mix as (

    select
        customer_id,
        count(*) as touchpoints_90d,
        1.0 * count(*) filter (where channel = 'web') / count(*) as web_share_90d,
        1.0 * count(*) filter (where channel = 'app') / count(*) as app_share_90d,
        1.0 * count(*) filter (where channel = 'store') / count(*) as store_share_90d,
        1.0 * count(*) filter (where channel in ('email', 'sms', 'social')) / count(*) as messaging_share_90d,
        1.0 * count(*) filter (where channel = 'call_center') / count(*) as call_center_share_90d,
        1.0 * count(*) filter (where channel = 'community') / count(*) as community_share_90d,
        count(*) filter (where channel = 'community') as community_activities_90d
    from known_touchpoints
    where occurred_at >= as_of_at - interval '90 days'
    group by customer_id

),

moments as (

    select customer_id, {{ time_of_day('occurred_at') }} as time_of_day, occurred_at as happened_at
    from known_touchpoints
    union all
    select customer_id, {{ time_of_day('ordered_at') }} as time_of_day, ordered_at as happened_at
    from purchases
    where ordered_at >= as_of_at - interval '365 days'

),

time_of_day_counts as (

    select
        customer_id,
        time_of_day as preferred_time_of_day,
        count(*) as moments,
        max(happened_at) as last_happened_at
    from moments
    group by customer_id, time_of_day

),

preferred_times as (

    {{ deduplicate(
        'time_of_day_counts',
        partition_by='customer_id',
        order_by='moments desc, last_happened_at desc, preferred_time_of_day',
    ) }}

),

device_counts as (

    select
        customer_id,
        device as preferred_device,
        count(*) as touchpoints,
        max(occurred_at) as last_occurred_at
    from known_touchpoints
    where device is not null and occurred_at >= as_of_at - interval '90 days'
    group by customer_id, device

),

preferred_devices as (

    {{ deduplicate(
        'device_counts',
        partition_by='customer_id',
        order_by='touchpoints desc, last_occurred_at desc, preferred_device',
    ) }}

),

messaging as (

    select
        customer_dates.customer_id,
        count(*) filter (where interactions.interaction_type = 'sent') as messages_sent_90d,
        count(*) filter (
            where interactions.interaction_type not in ('sent', 'unsubscribed')
        ) as message_responses_90d
    from customer_dates
    inner join interactions
        on interactions.customer_id = customer_dates.customer_id
        and interactions.occurred_at < customer_dates.as_of_at
        and interactions.occurred_at >= customer_dates.as_of_at - interval '90 days'
    group by customer_dates.customer_id

),

nps as (

    select
        customer_dates.customer_id,
        count(*) as nps_responses_365d,
        avg(nps_responses.nps_score) as trailing_nps_365d
    from customer_dates
    inner join nps_responses
        on nps_responses.customer_id = customer_dates.customer_id
        and nps_responses.answered_at < customer_dates.as_of_at
        and nps_responses.answered_at >= customer_dates.as_of_at - interval '365 days'
    group by customer_dates.customer_id

),

recent_reviews as (

    select
        customer_dates.customer_id,
        count(*) as reviews_365d
    from customer_dates
    inner join reviews
        on reviews.customer_id = customer_dates.customer_id
        and reviews.reviewed_at < customer_dates.as_of_at
        and reviews.reviewed_at >= customer_dates.as_of_at - interval '365 days'
    group by customer_dates.customer_id

),

joined as (

    select
        customer_dates.customer_id,
        customer_dates.as_of_date,
        cast(order_context.first_ordered_at as date) as first_order_date,
        coalesce(order_context.lifetime_orders, 0) as lifetime_orders,
        coalesce(order_context.historic_clv, 0) as historic_clv,
        coalesce(order_context.store_orders_365d, 0) as store_orders_365d,
        coalesce(order_context.online_orders_365d, 0) as online_orders_365d,
        1.0 * order_context.store_orders_365d
            / nullif(order_context.store_orders_365d + order_context.online_orders_365d, 0)
            as store_order_share_365d,
        coalesce(channel_mix.touchpoints_90d, 0) as touchpoints_90d,
        channel_mix.web_share_90d,
        channel_mix.app_share_90d,
        channel_mix.store_share_90d,
        channel_mix.messaging_share_90d,
        channel_mix.call_center_share_90d,
        channel_mix.community_share_90d,
        preferred_times.preferred_time_of_day,
        preferred_devices.preferred_device,
        coalesce(nps.nps_responses_365d, 0) as nps_responses_365d,
        nps.trailing_nps_365d,
        coalesce(messaging.messages_sent_90d, 0) as messages_sent_90d,
        coalesce(messaging.message_responses_90d, 0) as message_responses_90d,
        -- least() skips nulls: the rate must stay null, not become 1, when nothing was sent
        case
            when messaging.messages_sent_90d > 0
                then least(1.0, 1.0 * messaging.message_responses_90d / messaging.messages_sent_90d)
        end as content_response_rate_90d,
        coalesce(channel_mix.community_activities_90d, 0) as community_activities_90d,
        coalesce(recent_reviews.reviews_365d, 0) + coalesce(nps.nps_responses_365d, 0) as feedback_365d
    from customer_dates
    left join order_context on order_context.customer_id = customer_dates.customer_id
    left join channel_mix on channel_mix.customer_id = customer_dates.customer_id
    left join preferred_times on preferred_times.customer_id = customer_dates.customer_id
    left join preferred_devices on preferred_devices.customer_id = customer_dates.customer_id
    left join messaging on messaging.customer_id = customer_dates.customer_id
    left join nps on nps.customer_id = customer_dates.customer_id
    left join recent_reviews on recent_reviews.customer_id = customer_dates.customer_id

),

final as (

    select
        *,
        {{ weighted_index(engagement_components, var('engagement_weights')) }} as engagement_index
    from joined

)

select * from final
