-- a table, not a view: five models and several tests read every version, each would redo the windows
{{ config(materialized='table') }}

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
        cast(order_total as {{ type_double() }}) as order_total,
        cast(discount_amount as {{ type_double() }}) as discount_amount,
        lower(trim(status)) as status,
        offer_id,
        cast(updated_at as timestamp) as updated_at,
        _loaded_at as loaded_at
    from source

),

deduplicated as (

    {{ deduplicate('renamed', partition_by='order_id, updated_at', order_by='loaded_at desc') }}

),

final as (

    select
        *,
        updated_at as valid_from_at,
        lead(updated_at) over (partition by order_id order by updated_at) as valid_to_at,
        row_number() over (partition by order_id order by updated_at) as version_number,
        lead(updated_at) over (partition by order_id order by updated_at) is null as is_current_version
    from deduplicated

)

select * from final
