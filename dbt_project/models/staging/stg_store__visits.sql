with

source as (

    select * from {{ source('store', 'visits') }}

),

renamed as (

    select
        visit_id,
        loyalty_card_id,
        store_id,
        cast(visited_at as timestamp) as visited_at,
        cast(dwell_minutes as bigint) as dwell_minutes,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='visit_id', order_by='loaded_at desc') }}

)

select * from final
