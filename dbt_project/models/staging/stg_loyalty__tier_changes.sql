with

source as (

    select * from {{ source('loyalty', 'tier_changes') }}

),

renamed as (

    select
        {{ dbt.hash("customer_id || '|' || cast(valid_from as " ~ dbt.type_string() ~ ")") }} as tier_change_id,
        customer_id,
        lower(trim(tier)) as loyalty_tier,
        cast(valid_from as timestamp) as valid_from_at,
        cast(points_balance as bigint) as points_balance,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='customer_id, valid_from_at', order_by='loaded_at desc') }}

)

select * from final
