with

source as (

    select * from {{ source('shop', 'products') }}

),

renamed as (

    select
        product_id,
        product_name,
        category,
        cast(list_price as {{ type_double() }}) as list_price,
        cast(margin_rate as {{ type_double() }}) as margin_rate,
        cast(updated_at as timestamp) as updated_at,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='product_id', order_by='updated_at desc, loaded_at desc') }}

)

select * from final
