{{
    config(
        materialized='incremental',
        unique_key='touchpoint_id',
        incremental_strategy='merge',
        on_schema_change='append_new_columns',
    )
}}

with

web_events as (

    select * from {{ ref('stg_web__events') }}

),

app_events as (

    select * from {{ ref('stg_app__events') }}

),

store_visits as (

    select * from {{ ref('stg_store__visits') }}

),

call_center_contacts as (

    select * from {{ ref('stg_call_center__contacts') }}

),

interactions as (

    select * from {{ ref('stg_marketing__interactions') }}

),

community_activities as (

    select * from {{ ref('stg_community__activities') }}

),

identities as (

    select * from {{ ref('int_customer_identities') }}

),

web as (

    select
        'web:' || web_events.event_id as touchpoint_id,
        coalesce(web_events.customer_id, identities.customer_id) as customer_id,
        'web' as channel,
        web_events.event_type as touchpoint_type,
        web_events.occurred_at,
        case
            when web_events.customer_id is not null then web_events.occurred_at
            else greatest(web_events.occurred_at, identities.known_from_at)
        end as known_at,
        case when web_events.customer_id is not null then 'login' else 'device' end as identified_by,
        'web' as device,
        web_events.loaded_at
    from web_events
    left join identities
        on identities.identifier_type = 'web_device'
        and identities.identifier = web_events.device_id

),

app as (

    select
        'app:' || app_events.event_id as touchpoint_id,
        coalesce(app_events.customer_id, identities.customer_id) as customer_id,
        'app' as channel,
        app_events.event_type as touchpoint_type,
        app_events.occurred_at,
        case
            when app_events.customer_id is not null then app_events.occurred_at
            else greatest(app_events.occurred_at, identities.known_from_at)
        end as known_at,
        case when app_events.customer_id is not null then 'login' else 'device' end as identified_by,
        app_events.platform as device,
        app_events.loaded_at
    from app_events
    left join identities
        on identities.identifier_type = 'app_device'
        and identities.identifier = app_events.device_id

),

store as (

    select
        'store:' || store_visits.visit_id as touchpoint_id,
        identities.customer_id,
        'store' as channel,
        'visit' as touchpoint_type,
        store_visits.visited_at as occurred_at,
        greatest(store_visits.visited_at, identities.known_from_at) as known_at,
        'loyalty_card' as identified_by,
        cast(null as varchar) as device,
        store_visits.loaded_at
    from store_visits
    left join identities
        on identities.identifier_type = 'loyalty_card'
        and identities.identifier = store_visits.loyalty_card_id

),

call_center as (

    select
        'call_center:' || call_center_contacts.contact_id as touchpoint_id,
        identities.customer_id,
        'call_center' as channel,
        call_center_contacts.contact_reason as touchpoint_type,
        call_center_contacts.contacted_at as occurred_at,
        greatest(call_center_contacts.contacted_at, identities.known_from_at) as known_at,
        'phone' as identified_by,
        cast(null as varchar) as device,
        call_center_contacts.loaded_at
    from call_center_contacts
    left join identities
        on identities.identifier_type = 'phone_hash'
        and identities.identifier = call_center_contacts.phone_hash

),

messaging as (

    select
        'interaction:' || interaction_id as touchpoint_id,
        customer_id,
        channel,
        interaction_type as touchpoint_type,
        occurred_at,
        occurred_at as known_at,
        'customer_id' as identified_by,
        cast(null as varchar) as device,
        loaded_at
    from interactions
    where interaction_type <> 'sent'

),

community as (

    select
        'community:' || activity_id as touchpoint_id,
        customer_id,
        'community' as channel,
        activity_type as touchpoint_type,
        occurred_at,
        occurred_at as known_at,
        'customer_id' as identified_by,
        cast(null as varchar) as device,
        loaded_at
    from community_activities

),

unioned as (

    select * from web
    union all
    select * from app
    union all
    select * from store
    union all
    select * from call_center
    union all
    select * from messaging
    union all
    select * from community

),

final as (

    select * from unioned
    where customer_id is not null
    {% if is_incremental() %}
        -- rows loaded since the last build, and old anonymous events that a new login just resolved
        and (
            loaded_at >= {{ incremental_watermark('loaded_at') }}
            or known_at >= {{ incremental_watermark('known_at') }}
        )
    {% endif %}

)

select * from final
