with

source as (

    select * from {{ source('shop', 'products') }}

),

renamed as (

    select
        product_id,
        product_name,
        category,
        cast(list_price as double) as list_price,
        cast(margin_rate as double) as margin_rate,
        cast(updated_at as timestamp) as updated_at,
        _loaded_at as loaded_at,
    from source

),

final as (

    select * from renamed
    qualify row_number() over (partition by product_id order by updated_at desc, loaded_at desc) = 1

)

select * from final
