{{ config(materialized='view') }}

with

touchpoints as (

    select * from {{ ref('int_touchpoints') }}

),

final as (

    select
        touchpoint_id,
        customer_id,
        channel,
        touchpoint_type,
        identified_by,
        device,
        occurred_at,
        cast(occurred_at as date) as occurred_date,
        {{ time_of_day('occurred_at') }} as time_of_day,
        known_at,
        loaded_at
    from touchpoints

)

select * from final
