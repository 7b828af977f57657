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
        cast(unit_price as {{ type_double() }}) as unit_price,
        cast(ordered_at as timestamp) as ordered_at,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='order_item_id', order_by='loaded_at desc') }}

)

select * from final
