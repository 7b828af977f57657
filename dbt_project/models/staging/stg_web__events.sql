with

source as (

    select * from {{ source('web', 'events') }}

),

renamed as (

    select
        event_id,
        device_id,
        customer_id,
        lower(trim(event_type)) as event_type,
        product_id,
        cast(occurred_at as timestamp) as occurred_at,
        _loaded_at as loaded_at,
    from source

),

final as (

    select * from renamed
    qualify row_number() over (partition by event_id order by loaded_at desc) = 1

)

select * from final
