-- The dbt project's logic as one hand-written DuckDB script, for benchmarks/bench_dbt.py.
-- Same inputs (raw.*, ml.*), same rules and default vars, outputs in schema `reference`; no tests,
-- no incremental bookkeeping. {as_of} is the as-of date, {horizon} the churn horizon in days,
-- {response_window} the NBO response window in days. Feature cutoffs: the as-of date only.

create schema if not exists reference;
set variable as_of = date '{as_of}';
set variable as_of_at = timestamp '{as_of}';

-- staging: typed, deduplicated sources ------------------------------------------------------------
create or replace temp view customers as
select customer_id, email_hash, phone_hash, postal_code, cast(birth_year as bigint) as birth_year,
       lower(trim(gender)) as gender, cast(signup_at as timestamp) as signup_at,
       lower(trim(signup_channel)) as signup_channel, loyalty_card_id, cast(updated_at as timestamp) as updated_at
from raw.customers
qualify row_number() over (partition by customer_id order by updated_at desc, _loaded_at desc) = 1;

create or replace temp table order_versions as
select *, updated_at as valid_from_at,
       lead(updated_at) over (partition by order_id order by updated_at) as valid_to_at,
       row_number() over (partition by order_id order by updated_at) as version_number
from (
    select order_id, customer_id, cast(ordered_at as timestamp) as ordered_at, lower(trim(channel)) as channel,
           store_id, cast(order_total as double) as order_total, cast(discount_amount as double) as discount_amount,
           lower(trim(status)) as status, offer_id, cast(updated_at as timestamp) as updated_at, _loaded_at as loaded_at
    from raw.orders
    qualify row_number() over (partition by order_id, updated_at order by _loaded_at desc) = 1
);

create or replace temp view web_events as
select event_id, device_id, customer_id, lower(trim(event_type)) as event_type, cast(occurred_at as timestamp) as occurred_at, _loaded_at as loaded_at
from raw.web_events qualify row_number() over (partition by event_id order by _loaded_at desc) = 1;
create or replace temp view app_events as
select event_id, device_id, customer_id, lower(trim(platform)) as platform, lower(trim(event_type)) as event_type,
       cast(occurred_at as timestamp) as occurred_at, _loaded_at as loaded_at
from raw.app_events qualify row_number() over (partition by event_id order by _loaded_at desc) = 1;
create or replace temp view store_visits as
select visit_id, loyalty_card_id, cast(visited_at as timestamp) as visited_at, _loaded_at as loaded_at
from raw.store_visits qualify row_number() over (partition by visit_id order by _loaded_at desc) = 1;
create or replace temp view call_center_contacts as
select contact_id, phone_hash, cast(contacted_at as timestamp) as contacted_at, lower(trim(reason)) as contact_reason, _loaded_at as loaded_at
from raw.call_center_contacts qualify row_number() over (partition by contact_id order by _loaded_at desc) = 1;
create or replace temp view interactions as
select interaction_id, customer_id, lower(trim(channel)) as channel, lower(trim(interaction_type)) as interaction_type,
       cast(occurred_at as timestamp) as occurred_at, _loaded_at as loaded_at
from raw.interactions qualify row_number() over (partition by interaction_id order by _loaded_at desc) = 1;
create or replace temp view community_activities as
select activity_id, customer_id, lower(trim(activity_type)) as activity_type, cast(occurred_at as timestamp) as occurred_at, _loaded_at as loaded_at
from raw.community_activity qualify row_number() over (partition by activity_id order by _loaded_at desc) = 1;
create or replace temp view consents as
select consent_id, customer_id, lower(trim(purpose)) as purpose, lower(trim(channel)) as channel,
       cast(is_granted as boolean) as is_granted, cast(recorded_at as timestamp) as recorded_at
from raw.consents qualify row_number() over (partition by consent_id order by _loaded_at desc) = 1;
create or replace temp view nps_responses as
select survey_id, customer_id, cast(answered_at as timestamp) as answered_at, cast(score as bigint) as nps_score
from raw.nps_surveys qualify row_number() over (partition by survey_id order by _loaded_at desc) = 1;
create or replace temp view reviews as
select review_id, customer_id, cast(reviewed_at as timestamp) as reviewed_at, cast(rating as bigint) as rating
from raw.reviews qualify row_number() over (partition by review_id order by _loaded_at desc) = 1;
create or replace temp view tier_changes as
select md5(customer_id || '|' || cast(valid_from as varchar)) as tier_change_id, customer_id, lower(trim(tier)) as loyalty_tier,
       cast(valid_from as timestamp) as valid_from_at, cast(points_balance as bigint) as points_balance
from raw.loyalty_tiers qualify row_number() over (partition by customer_id, valid_from order by _loaded_at desc) = 1;
create or replace temp view offers as
select offer_id, lower(trim(offer_type)) as offer_type, lower(trim(channel)) as channel
from raw.offers qualify row_number() over (partition by offer_id order by updated_at desc, _loaded_at desc) = 1;
create or replace temp view offer_responses as
select assignment_id, campaign_id, customer_id, offer_id, lower(trim(assignment_group)) as assignment_group,
       cast(sent_at as timestamp) as sent_at, cast(has_responded as boolean) as has_responded, cast(responded_at as timestamp) as responded_at
from raw.offer_responses qualify row_number() over (partition by assignment_id order by _loaded_at desc) = 1;

-- identities and touchpoints ----------------------------------------------------------------------
create or replace temp table identities as
with candidates as (
    select customer_id, 'loyalty_card' as identifier_type, loyalty_card_id as identifier, signup_at as known_from_at, 0 as logged_in_events
    from customers where loyalty_card_id is not null
    union all
    select customer_id, 'phone_hash', phone_hash, signup_at, 0 from customers where phone_hash is not null
    union all
    select customer_id, identifier_type, device_id, min(occurred_at), count(*)
    from (
        select 'web_device' as identifier_type, device_id, customer_id, occurred_at from web_events where customer_id is not null and device_id is not null
        union all
        select 'app_device', device_id, customer_id, occurred_at from app_events where customer_id is not null and device_id is not null
    )
    group by customer_id, identifier_type, device_id
)
select * from candidates
qualify row_number() over (partition by identifier_type, identifier order by logged_in_events desc, known_from_at, customer_id) = 1;

create or replace table reference.touchpoints as
select * from (
    select 'web:' || e.event_id as touchpoint_id, coalesce(e.customer_id, i.customer_id) as customer_id, 'web' as channel,
           e.event_type as touchpoint_type, e.occurred_at,
           case when e.customer_id is not null then e.occurred_at else greatest(e.occurred_at, i.known_from_at) end as known_at,
           'web' as device, e.loaded_at
    from web_events e left join identities i on i.identifier_type = 'web_device' and i.identifier = e.device_id
    union all
    select 'app:' || e.event_id, coalesce(e.customer_id, i.customer_id), 'app', e.event_type, e.occurred_at,
           case when e.customer_id is not null then e.occurred_at else greatest(e.occurred_at, i.known_from_at) end,
           e.platform, e.loaded_at
    from app_events e left join identities i on i.identifier_type = 'app_device' and i.identifier = e.device_id
    union all
    select 'store:' || v.visit_id, i.customer_id, 'store', 'visit', v.visited_at, greatest(v.visited_at, i.known_from_at), null, v.loaded_at
    from store_visits v left join identities i on i.identifier_type = 'loyalty_card' and i.identifier = v.loyalty_card_id
    union all
    select 'call_center:' || c.contact_id, i.customer_id, 'call_center', c.contact_reason, c.contacted_at,
           greatest(c.contacted_at, i.known_from_at), null, c.loaded_at
    from call_center_contacts c left join identities i on i.identifier_type = 'phone_hash' and i.identifier = c.phone_hash
    union all
    select 'interaction:' || interaction_id, customer_id, channel, interaction_type, occurred_at, occurred_at, null, loaded_at
    from interactions where interaction_type <> 'sent'
    union all
    select 'community:' || activity_id, customer_id, 'community', activity_type, occurred_at, occurred_at, null, loaded_at
    from community_activities
)
where customer_id is not null;

-- orders as known at the as-of date ---------------------------------------------------------------
create or replace table reference.fct_orders as
select order_id, customer_id, ordered_at, channel, status, order_total, discount_amount, updated_at
from order_versions
where updated_at < getvariable('as_of_at') and ordered_at < getvariable('as_of_at')
qualify row_number() over (partition by order_id order by updated_at desc) = 1;

create or replace temp table known_orders as
select c.customer_id, o.ordered_at, o.channel, o.status, o.order_total, o.discount_amount, o.updated_at
from customers c
join order_versions o on o.customer_id = c.customer_id
where c.signup_at < getvariable('as_of_at')
  and o.ordered_at < getvariable('as_of_at') and o.valid_from_at < getvariable('as_of_at')
  and (o.valid_to_at is null or o.valid_to_at >= getvariable('as_of_at'));

-- customer features as of the date ----------------------------------------------------------------
create or replace temp table customer_features as
with
purchases as (select * from known_orders where status in ('completed', 'returned')),
order_features as (
    select customer_id, max(ordered_at) as last_ordered_at,
        count(*) filter (where ordered_at >= getvariable('as_of_at') - interval 30 day) as frequency_30d,
        count(*) filter (where ordered_at >= getvariable('as_of_at') - interval 90 day) as frequency_90d,
        count(*) filter (where ordered_at >= getvariable('as_of_at') - interval 180 day) as frequency_180d,
        count(*) filter (where ordered_at >= getvariable('as_of_at') - interval 365 day) as frequency_365d,
        sum(order_total) filter (where status = 'completed' and ordered_at >= getvariable('as_of_at') - interval 30 day) as monetary_30d,
        sum(order_total) filter (where status = 'completed' and ordered_at >= getvariable('as_of_at') - interval 90 day) as monetary_90d,
        sum(order_total) filter (where status = 'completed' and ordered_at >= getvariable('as_of_at') - interval 365 day) as monetary_365d,
        count(*) filter (where status = 'completed' and ordered_at >= getvariable('as_of_at') - interval 365 day) as completed_orders_365d,
        count(*) filter (where status = 'returned' and ordered_at >= getvariable('as_of_at') - interval 365 day) as returns_365d,
        sum(discount_amount) filter (where ordered_at >= getvariable('as_of_at') - interval 365 day) as discount_365d,
        sum(order_total + discount_amount) filter (where ordered_at >= getvariable('as_of_at') - interval 365 day) as gross_365d,
        min(ordered_at) as first_ordered_at, count(*) as lifetime_orders,
        coalesce(sum(order_total) filter (where status = 'completed'), 0) as historic_clv,
        count(*) filter (where channel = 'store' and ordered_at >= getvariable('as_of_at') - interval 365 day) as store_orders_365d,
        count(*) filter (where channel <> 'store' and ordered_at >= getvariable('as_of_at') - interval 365 day) as online_orders_365d
    from purchases group by customer_id
),
known_touchpoints as (
    select t.* from reference.touchpoints t
    where t.known_at < getvariable('as_of_at') and t.occurred_at >= getvariable('as_of_at') - interval 365 day
),
engagement as (
    select customer_id,
        count(*) filter (where channel = 'web' and occurred_at >= getvariable('as_of_at') - interval 90 day) as web_events_90d,
        count(*) filter (where channel = 'app' and occurred_at >= getvariable('as_of_at') - interval 90 day) as app_events_90d,
        count(*) filter (where channel = 'store' and occurred_at >= getvariable('as_of_at') - interval 90 day) as store_visits_90d,
        count(*) filter (where channel = 'call_center' and occurred_at >= getvariable('as_of_at') - interval 180 day) as call_center_contacts_180d,
        count(*) filter (where channel = 'call_center' and touchpoint_type = 'complaint' and occurred_at >= getvariable('as_of_at') - interval 180 day) as complaints_180d,
        count(*) filter (where channel = 'email' and touchpoint_type = 'opened' and occurred_at >= getvariable('as_of_at') - interval 90 day) as email_opens_90d,
        count(*) filter (where channel = 'email' and touchpoint_type = 'clicked' and occurred_at >= getvariable('as_of_at') - interval 90 day) as email_clicks_90d,
        count(*) filter (where channel = 'community' and occurred_at >= getvariable('as_of_at') - interval 90 day) as community_activities_90d,
        count(*) filter (where touchpoint_type = 'unsubscribed') as unsubscribes_365d,
        count(*) filter (where occurred_at >= getvariable('as_of_at') - interval 90 day) as touchpoints_90d,
        count(*) filter (where channel = 'web' and occurred_at >= getvariable('as_of_at') - interval 90 day) as web_90d,
        count(*) filter (where channel = 'app' and occurred_at >= getvariable('as_of_at') - interval 90 day) as app_90d,
        count(*) filter (where channel = 'store' and occurred_at >= getvariable('as_of_at') - interval 90 day) as store_90d,
        count(*) filter (where channel in ('email', 'sms', 'social') and occurred_at >= getvariable('as_of_at') - interval 90 day) as messaging_90d,
        count(*) filter (where channel = 'call_center' and occurred_at >= getvariable('as_of_at') - interval 90 day) as call_center_90d
    from known_touchpoints group by customer_id
),
preferred_channels as (
    select customer_id, channel as preferred_channel from known_touchpoints
    where occurred_at >= getvariable('as_of_at') - interval 90 day
    group by customer_id, channel
    qualify row_number() over (partition by customer_id order by count(*) desc, max(occurred_at) desc, channel) = 1
),
preferred_devices as (
    select customer_id, device as preferred_device from known_touchpoints
    where device is not null and occurred_at >= getvariable('as_of_at') - interval 90 day
    group by customer_id, device
    qualify row_number() over (partition by customer_id order by count(*) desc, max(occurred_at) desc, device) = 1
),
preferred_times as (
    select customer_id, part as preferred_time_of_day from (
        select customer_id, happened_at,
               case when hour(happened_at) < 6 then 'night' when hour(happened_at) < 12 then 'morning'
                    when hour(happened_at) < 18 then 'afternoon' else 'evening' end as part
        from (
            select customer_id, occurred_at as happened_at from known_touchpoints
            union all
            select customer_id, ordered_at from purchases where ordered_at >= getvariable('as_of_at') - interval 365 day
        )
    )
    group by customer_id, part
    qualify row_number() over (partition by customer_id order by count(*) desc, max(happened_at) desc, part) = 1
),
messaging as (
    select customer_id, count(*) filter (where interaction_type = 'sent') as sent,
           count(*) filter (where interaction_type not in ('sent', 'unsubscribed')) as responses
    from interactions
    where occurred_at < getvariable('as_of_at') and occurred_at >= getvariable('as_of_at') - interval 90 day
    group by customer_id
),
nps as (
    select customer_id, arg_max(nps_score, answered_at) as latest_nps,
           count(*) filter (where answered_at >= getvariable('as_of_at') - interval 365 day) as nps_responses_365d,
           avg(nps_score) filter (where answered_at >= getvariable('as_of_at') - interval 365 day) as trailing_nps_365d
    from nps_responses where answered_at < getvariable('as_of_at') group by customer_id
),
review_stats as (
    select customer_id, count(*) as review_count, avg(rating) as avg_review_rating,
           count(*) filter (where reviewed_at >= getvariable('as_of_at') - interval 365 day) as reviews_365d
    from reviews where reviewed_at < getvariable('as_of_at') group by customer_id
),
tiers as (
    select customer_id, arg_max(loyalty_tier, valid_from_at) as loyalty_tier, cast(max(valid_from_at) as date) as loyalty_tier_since_date,
           count(*) as loyalty_tier_changes
    from tier_changes where valid_from_at < getvariable('as_of_at') group by customer_id
),
consent_state as (
    select customer_id, purpose, channel, is_granted, recorded_at from consents
    where recorded_at < getvariable('as_of_at')
    qualify row_number() over (partition by customer_id, purpose, channel order by recorded_at desc, consent_id desc) = 1
),
consent_flags as (
    select customer_id,
        arg_max(is_granted, recorded_at) filter (where purpose = 'analytics') as has_analytics_consent,
        arg_max(is_granted, recorded_at) filter (where purpose = 'profiling') as has_profiling_consent,
        bool_or(is_granted) filter (where purpose = 'marketing') as has_marketing_consent,
        arg_max(is_granted, recorded_at) filter (where purpose = 'marketing' and channel in ('email', 'all')) as has_email_consent,
        arg_max(is_granted, recorded_at) filter (where purpose = 'marketing' and channel in ('sms', 'all')) as has_sms_consent,
        arg_max(is_granted, recorded_at) filter (where purpose = 'marketing' and channel in ('push', 'all')) as has_push_consent
    from consent_state group by customer_id
)
select
    c.customer_id, getvariable('as_of') as as_of_date, cast(c.signup_at as date) as signup_date, c.signup_channel,
    date_diff('day', cast(c.signup_at as date), getvariable('as_of')) as tenure_days,
    date_diff('day', cast(o.last_ordered_at as date), getvariable('as_of')) as recency_days,
    coalesce(o.frequency_30d, 0) as frequency_30d, coalesce(o.frequency_90d, 0) as frequency_90d,
    coalesce(o.frequency_180d, 0) as frequency_180d, coalesce(o.frequency_365d, 0) as frequency_365d,
    coalesce(o.monetary_30d, 0) as monetary_30d, coalesce(o.monetary_90d, 0) as monetary_90d, coalesce(o.monetary_365d, 0) as monetary_365d,
    o.monetary_365d / nullif(o.completed_orders_365d, 0) as avg_order_value_365d,
    coalesce(o.returns_365d, 0) as returns_365d, coalesce(o.discount_365d / nullif(o.gross_365d, 0), 0) as discount_share_365d,
    cast(o.first_ordered_at as date) as first_order_date, coalesce(o.lifetime_orders, 0) as lifetime_orders,
    coalesce(o.historic_clv, 0) as historic_clv, coalesce(o.store_orders_365d, 0) as store_orders_365d,
    coalesce(o.online_orders_365d, 0) as online_orders_365d,
    1.0 * o.store_orders_365d / nullif(o.store_orders_365d + o.online_orders_365d, 0) as store_order_share_365d,
    coalesce(e.web_events_90d, 0) as web_events_90d, coalesce(e.app_events_90d, 0) as app_events_90d,
    coalesce(e.store_visits_90d, 0) as store_visits_90d, coalesce(e.call_center_contacts_180d, 0) as call_center_contacts_180d,
    coalesce(e.complaints_180d, 0) as complaints_180d, coalesce(e.email_opens_90d, 0) as email_opens_90d,
    coalesce(e.email_clicks_90d, 0) as email_clicks_90d, coalesce(e.community_activities_90d, 0) as community_activities_90d,
    coalesce(e.unsubscribes_365d, 0) as unsubscribes_365d,
    coalesce(e.touchpoints_90d, 0) as touchpoints_90d,
    1.0 * e.web_90d / nullif(e.touchpoints_90d, 0) as web_share_90d, 1.0 * e.app_90d / nullif(e.touchpoints_90d, 0) as app_share_90d,
    1.0 * e.store_90d / nullif(e.touchpoints_90d, 0) as store_share_90d, 1.0 * e.messaging_90d / nullif(e.touchpoints_90d, 0) as messaging_share_90d,
    1.0 * e.call_center_90d / nullif(e.touchpoints_90d, 0) as call_center_share_90d,
    1.0 * e.community_activities_90d / nullif(e.touchpoints_90d, 0) as community_share_90d,
    pc.preferred_channel, pt.preferred_time_of_day, pd.preferred_device,
    n.latest_nps, coalesce(n.nps_responses_365d, 0) as nps_responses_365d, n.trailing_nps_365d,
    coalesce(m.sent, 0) as messages_sent_90d, coalesce(m.responses, 0) as message_responses_90d,
    case when m.sent > 0 then least(1.0, 1.0 * m.responses / m.sent) end as content_response_rate_90d,
    coalesce(r.review_count, 0) as review_count, r.avg_review_rating,
    coalesce(r.reviews_365d, 0) + coalesce(n.nps_responses_365d, 0) as feedback_365d,
    t.loyalty_tier, t.loyalty_tier_since_date, coalesce(t.loyalty_tier_changes, 0) as loyalty_tier_changes,
    coalesce(f.has_analytics_consent, false) as has_analytics_consent, coalesce(f.has_profiling_consent, false) as has_profiling_consent,
    coalesce(f.has_marketing_consent, false) as has_marketing_consent, coalesce(f.has_email_consent, false) as has_email_consent,
    coalesce(f.has_sms_consent, false) as has_sms_consent, coalesce(f.has_push_consent, false) as has_push_consent
from customers c
left join order_features o using (customer_id)
left join engagement e using (customer_id)
left join preferred_channels pc using (customer_id)
left join preferred_times pt using (customer_id)
left join preferred_devices pd using (customer_id)
left join messaging m using (customer_id)
left join nps n using (customer_id)
left join review_stats r using (customer_id)
left join tiers t using (customer_id)
left join consent_flags f using (customer_id)
where c.signup_at < getvariable('as_of_at');

create or replace temp table rfm as
select f.*,
    coalesce(s.r, 1) as rfm_recency_score, coalesce(s.f, 1) as rfm_frequency_score, coalesce(s.m, 1) as rfm_monetary_score
from customer_features f
left join (
    select customer_id,
        ntile(5) over (order by recency_days desc, customer_id) as r,
        ntile(5) over (order by frequency_365d, customer_id) as f,
        ntile(5) over (order by monetary_365d, customer_id) as m
    from customer_features where frequency_365d > 0
) s using (customer_id);

create or replace table reference.ml_customer_features as
select customer_id, as_of_date, coalesce(recency_days, 9999) as recency_days, frequency_30d, frequency_90d, frequency_180d,
       frequency_365d, monetary_30d, monetary_90d, monetary_365d, coalesce(avg_order_value_365d, 0) as avg_order_value_365d,
       frequency_90d - (frequency_180d - frequency_90d) as order_trend, tenure_days,
       rfm_recency_score, rfm_frequency_score, rfm_monetary_score, web_events_90d, app_events_90d, store_visits_90d,
       call_center_contacts_180d, complaints_180d, email_opens_90d, email_clicks_90d, community_activities_90d, latest_nps,
       review_count, avg_review_rating, returns_365d, discount_share_365d, unsubscribes_365d,
       case loyalty_tier when 'platinum' then 4 when 'gold' then 3 when 'silver' then 2 else 1 end as loyalty_tier_rank,
       frequency_365d > 0 as is_active_365d, has_profiling_consent, has_marketing_consent
from rfm;

create or replace table reference.ml_nbo_training as
select r.assignment_id, r.customer_id, r.offer_id, o.offer_type, o.channel, r.campaign_id, cast(r.sent_at as date) as sent_date,
       r.assignment_group,
       r.has_responded and (r.responded_at is null or (r.responded_at < getvariable('as_of_at')
           and r.responded_at < r.sent_at + to_days({response_window}))) as has_responded,
       f.* exclude (customer_id, as_of_date)
from offer_responses r
left join offers o using (offer_id)
left join reference.ml_customer_features f on f.customer_id = r.customer_id and f.as_of_date = cast(r.sent_at as date)
where r.sent_at < getvariable('as_of_at');

create or replace table reference.ml_churn_labels as
with labelable as (
    select customer_id, as_of_date, cast(as_of_date as timestamp) as window_start_at,
           cast(as_of_date as timestamp) + to_days({horizon}) as window_end_at
    from reference.ml_customer_features
    where is_active_365d and as_of_date + {horizon} <= getvariable('as_of')
)
select l.customer_id, l.as_of_date, {horizon} as churn_horizon_days,
       not exists (
           select 1 from order_versions o
           where o.customer_id = l.customer_id and o.status in ('completed', 'returned')
             and o.ordered_at >= l.window_start_at and o.ordered_at < l.window_end_at
             and o.valid_from_at < l.window_end_at and (o.valid_to_at is null or o.valid_to_at >= l.window_end_at)
       ) as is_churned
from labelable l;

create or replace table reference.dim_customer_tier_history as
select tier_change_id, customer_id,
       row_number() over (partition by customer_id order by valid_from_at) as tier_version, loyalty_tier,
       lag(loyalty_tier) over (partition by customer_id order by valid_from_at) as previous_loyalty_tier,
       points_balance, valid_from_at, lead(valid_from_at) over (partition by customer_id order by valid_from_at) as valid_to_at
from tier_changes where valid_from_at < getvariable('as_of_at');

-- scores of the as-of date --------------------------------------------------------------------------
create or replace temp table scores as
with
churn as (
    select customer_id, churn_probability, risk_band as churn_risk_band, reason_1 as churn_top_reason, model_version as churn_model_version
    from ml.churn_scores where as_of_date = getvariable('as_of') and model_name = 'rapport-churn'
    qualify row_number() over (partition by customer_id order by scored_at desc) = 1
),
clv as (
    select customer_id, predicted_clv_365d, expected_orders_365d from ml.clv_scores
    where as_of_date = getvariable('as_of') and model_name = 'rapport-clv'
    qualify row_number() over (partition by customer_id order by scored_at desc) = 1
),
nbo as (
    select customer_id, offer_id as next_best_offer_id, channel as next_best_offer_channel,
           expected_value as next_best_offer_expected_value, reason as next_best_offer_reason
    from ml.offer_recommendations where as_of_date = getvariable('as_of') and model_name = 'rapport-nbo'
    qualify row_number() over (partition by customer_id order by rank, scored_at desc) = 1
),
review_scores as (
    select v.customer_id, v.reviewed_at, s.label, s.score
    from ml.review_sentiment s join reviews v using (review_id)
    where s.as_of_date <= getvariable('as_of') and s.model_name = 'rapport-sentiment' and v.reviewed_at < getvariable('as_of_at')
    qualify row_number() over (partition by s.review_id order by s.as_of_date desc, s.scored_at desc) = 1
),
sentiment as (
    select customer_id,
        avg(score) filter (where reviewed_at >= getvariable('as_of_at') - interval 365 day) as sentiment_level,
        avg(score) filter (where reviewed_at >= getvariable('as_of_at') - interval 180 day)
          - avg(score) filter (where reviewed_at < getvariable('as_of_at') - interval 180 day
                                 and reviewed_at >= getvariable('as_of_at') - interval 365 day) as sentiment_trend,
        count(*) filter (where reviewed_at >= getvariable('as_of_at') - interval 365 day) as scored_reviews_365d,
        cast(max(reviewed_at) filter (where label = 'negative') as date) as last_negative_review_date
    from review_scores group by customer_id
)
select * from churn full join clv using (customer_id) full join nbo using (customer_id) full join sentiment using (customer_id);

-- customer_360, its history, segment_health ---------------------------------------------------------
create or replace table reference.customer_360 as
with joined as (
    select r.*,
        case
            when r.rfm_recency_score >= 4 and r.rfm_frequency_score >= 4 then 'champions'
            when r.rfm_recency_score >= 3 and r.rfm_frequency_score >= 3 then 'loyal'
            when r.rfm_recency_score >= 4 and r.rfm_frequency_score <= 1 then 'new'
            when r.rfm_recency_score >= 3 then 'potential_loyalist'
            when r.rfm_frequency_score >= 4 and r.rfm_monetary_score >= 4 then 'cant_lose'
            when r.rfm_frequency_score >= 3 then 'at_risk'
            when r.rfm_recency_score = 2 then 'hibernating'
            else 'lost'
        end as rfm_segment,
        case when r.frequency_365d = 0 then 'inactive' when r.rfm_monetary_score >= 5 then 'top'
             when r.rfm_monetary_score >= 4 then 'high' when r.rfm_monetary_score >= 2 then 'medium' else 'low' end as value_tier,
        case when latest_nps >= 9 then 'promoter' when latest_nps >= 7 then 'passive' when latest_nps is not null then 'detractor' end as nps_category,
        100.0 * (0.4 * coalesce(content_response_rate_90d, 0) + 0.3 * least(1.0, community_activities_90d / 6.0)
                 + 0.3 * least(1.0, feedback_365d / 3.0))
            / (case when content_response_rate_90d is not null then 0.4 else 0 end + 0.6) as engagement_index,
        s.* exclude (customer_id),
        case when s.sentiment_level is null then 'unknown' when s.sentiment_level < -0.2 then 'negative'
             when s.sentiment_level > 0.2 then 'positive' else 'neutral' end as sentiment_band
    from rfm r left join scores s using (customer_id)
)
select *,
    100.0 * (0.2 * (rfm_recency_score - 1) / 4.0 + 0.1 * (rfm_frequency_score - 1) / 4.0 + 0.1 * (rfm_monetary_score - 1) / 4.0
             + coalesce(0.15 * latest_nps / 10.0, 0) + 0.15 * engagement_index / 100.0
             + coalesce(0.1 * (sentiment_level + 1) / 2.0, 0) + coalesce(0.2 * (1 - churn_probability), 0))
    / (0.55 + case when latest_nps is not null then 0.15 else 0 end + case when sentiment_level is not null then 0.1 else 0 end
       + case when churn_probability is not null then 0.2 else 0 end) as health_index
from joined;

create table if not exists reference.customer_360_history as
select customer_id, as_of_date, rfm_segment, value_tier, sentiment_band, coalesce(loyalty_tier, 'none') as loyalty_tier,
       monetary_365d, latest_nps, nps_category, engagement_index, sentiment_level, churn_probability, health_index
from reference.customer_360 limit 0;
delete from reference.customer_360_history where as_of_date = getvariable('as_of');
insert into reference.customer_360_history
select customer_id, as_of_date, rfm_segment, value_tier, sentiment_band, coalesce(loyalty_tier, 'none'),
       monetary_365d, latest_nps, nps_category, engagement_index, sentiment_level, churn_probability, health_index
from reference.customer_360;

create or replace table reference.segment_health as
with
history as (select * from reference.customer_360_history where as_of_date <= getvariable('as_of')),
snapshots as (select as_of_date, lag(as_of_date) over (order by as_of_date) as previous_as_of_date from (select distinct as_of_date from history)),
members as (
    select as_of_date, customer_id, segment_type, segment, monetary_365d, latest_nps, nps_category, engagement_index,
           sentiment_level, churn_probability, health_index
    from history
    unpivot (segment for segment_type in (rfm_segment, value_tier, sentiment_band, loyalty_tier))
),
metrics as (
    select as_of_date, segment_type, segment, count(*) as customers, sum(monetary_365d) as revenue_365d, avg(latest_nps) as avg_nps,
           100.0 * (count(*) filter (where nps_category = 'promoter') - count(*) filter (where nps_category = 'detractor'))
               / nullif(count(latest_nps), 0) as nps,
           avg(engagement_index) as avg_engagement_index, avg(sentiment_level) as avg_sentiment,
           avg(churn_probability) as avg_churn_probability, avg(health_index) as avg_health_index
    from members group by all
),
moves as (
    select coalesce(cur.as_of_date, prev.as_of_date) as as_of_date, coalesce(cur.segment_type, prev.segment_type) as segment_type,
           cur.segment as current_segment, prev.segment as previous_segment
    from (select s.as_of_date, m.customer_id, m.segment_type, m.segment from snapshots s join members m using (as_of_date)
          where s.previous_as_of_date is not null) cur
    full join (select s.as_of_date, m.customer_id, m.segment_type, m.segment from snapshots s
               join members m on m.as_of_date = s.previous_as_of_date) prev
      on prev.as_of_date = cur.as_of_date and prev.customer_id = cur.customer_id and prev.segment_type = cur.segment_type
    where cur.segment is distinct from prev.segment
),
movement as (
    select as_of_date, segment_type, segment, sum(moved_in) as moved_in, sum(moved_out) as moved_out from (
        select as_of_date, segment_type, current_segment as segment, 1 as moved_in, 0 as moved_out from moves where current_segment is not null
        union all
        select as_of_date, segment_type, previous_segment, 0, 1 from moves where previous_segment is not null
    ) group by all
)
select m.*,
       case when s.previous_as_of_date is not null then coalesce(v.moved_in, 0) end as moved_in,
       case when s.previous_as_of_date is not null then coalesce(v.moved_out, 0) end as moved_out,
       s.previous_as_of_date
from metrics m join snapshots s using (as_of_date) left join movement v using (as_of_date, segment_type, segment);
