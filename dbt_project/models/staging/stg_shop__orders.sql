with

order_versions as (

    select * from {{ ref('stg_shop__order_versions') }}

),

final as (

    select
        order_id,
        customer_id,
        ordered_at,
        channel,
        store_id,
        order_total,
        discount_amount,
        status,
        offer_id,
        updated_at,
        loaded_at
    from order_versions
    where is_current_version

)

select * from final
