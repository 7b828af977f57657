with

source as (

    select * from {{ source('shop', 'order_items') }}

),

renamed as (

    select
        order_item_id,
        order_id,
        product_id,
        cast(quantity as bigint) as quantity,
        cast(unit_price as double) as unit_price,
        cast(ordered_at as timestamp) as ordered_at,
        _loaded_at as loaded_at,
    from source

),

final as (

    select * from renamed
    qualify row_number() over (partition by order_item_id order by loaded_at desc) = 1

)

select * from final
