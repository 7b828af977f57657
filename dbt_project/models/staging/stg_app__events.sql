with

source as (

    select * from {{ source('app', 'events') }}

),

renamed as (

    select
        event_id,
        device_id,
        customer_id,
        lower(trim(platform)) as platform,
        lower(trim(event_type)) as event_type,
        product_id,
        cast(occurred_at as timestamp) as occurred_at,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='event_id', order_by='loaded_at desc') }}

)

select * from final
