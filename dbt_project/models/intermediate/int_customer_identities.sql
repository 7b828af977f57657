with

customers as (

    select * from {{ ref('stg_shop__customers') }}

),

web_events as (

    select * from {{ ref('stg_web__events') }}

),

app_events as (

    select * from {{ ref('stg_app__events') }}

),

loyalty_cards as (

    select
        customer_id,
        'loyalty_card' as identifier_type,
        loyalty_card_id as identifier,
        signup_at as known_from_at,
        0 as logged_in_events
    from customers
    where loyalty_card_id is not null

),

phones as (

    select
        customer_id,
        'phone_hash' as identifier_type,
        phone_hash as identifier,
        signup_at as known_from_at,
        0 as logged_in_events
    from customers
    where phone_hash is not null

),

device_logins as (

    select 'web_device' as identifier_type, device_id, customer_id, occurred_at
    from web_events
    where customer_id is not null and device_id is not null

    union all

    select 'app_device' as identifier_type, device_id, customer_id, occurred_at
    from app_events
    where customer_id is not null and device_id is not null

),

devices as (

    select
        customer_id,
        identifier_type,
        device_id as identifier,
        min(occurred_at) as known_from_at,
        count(*) as logged_in_events
    from device_logins
    group by customer_id, identifier_type, device_id

),

candidates as (

    select * from loyalty_cards
    union all
    select * from phones
    union all
    select * from devices

),

ranked as (

    select
        *,
        count(*) over (partition by identifier_type, identifier) as candidate_customers,
        row_number() over (
            partition by identifier_type, identifier
            order by logged_in_events desc, known_from_at, customer_id
        ) as candidate_rank
    from candidates

),

final as (

    select
        identifier_type || ':' || identifier as identity_id,
        customer_id,
        identifier_type,
        identifier,
        known_from_at,
        logged_in_events,
        candidate_customers > 1 as is_shared
    from ranked
    where candidate_rank = 1

)

select * from final
