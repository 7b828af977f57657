with

source as (

    select * from {{ source('shop', 'orders') }}

),

renamed as (

    select
        order_id,
        customer_id,
        cast(ordered_at as timestamp) as ordered_at,
        lower(trim(channel)) as channel,
        store_id,
        cast(order_total as double) as order_total,
        cast(discount_amount as double) as discount_amount,
        lower(trim(status)) as status,
        offer_id,
        cast(updated_at as timestamp) as updated_at,
        _loaded_at as loaded_at,
    from source

),

final as (

    select * from renamed
    qualify row_number() over (partition by order_id order by updated_at desc, loaded_at desc) = 1

)

select * from final
