{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='merge',
        on_schema_change='append_new_columns',
        pre_hook="{{ reset_when_replaying() }}",
    )
}}

with

order_versions as (

    select * from {{ ref('stg_shop__order_versions') }}

),

known_versions as (

    select * from order_versions
    where updated_at < cast('{{ var("as_of_date") }}' as timestamp)
        and ordered_at < cast('{{ var("as_of_date") }}' as timestamp)

),

{% if is_incremental() %}
changed_orders as (

    -- orders with a version written or loaded since the last build (late data within lookback_days)
    select distinct order_id
    from known_versions
    where updated_at >= {{ incremental_watermark('cast(as_of_date as timestamp)') }}
        or loaded_at >= {{ incremental_watermark('loaded_at') }}

),
{% endif %}

versions_to_build as (

    select * from known_versions
    {% if is_incremental() %}
    where order_id in (select order_id from changed_orders)
    {% endif %}

),

latest_known as (

    {{ deduplicate('versions_to_build', partition_by='order_id', order_by='updated_at desc') }}

),

final as (

    select
        order_id,
        customer_id,
        ordered_at,
        cast(ordered_at as date) as ordered_date,
        channel,
        case when channel = 'store' then 'store' else 'online' end as sales_channel,
        {{ time_of_day('ordered_at') }} as time_of_day,
        store_id,
        order_total,
        discount_amount,
        status,
        status in ('completed', 'returned') as is_purchase,
        offer_id,
        version_number,
        updated_at,
        loaded_at,
        cast('{{ var("as_of_date") }}' as date) as as_of_date
    from latest_known

)

select * from final
