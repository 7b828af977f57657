with

source as (

    select * from {{ source('loyalty', 'tier_changes') }}

),

renamed as (

    select
        md5(customer_id || '|' || cast(valid_from as varchar)) as tier_change_id,
        customer_id,
        lower(trim(tier)) as loyalty_tier,
        cast(valid_from as timestamp) as valid_from_at,
        cast(points_balance as bigint) as points_balance,
        _loaded_at as loaded_at,
    from source

),

final as (

    select * from renamed
    qualify row_number() over (partition by customer_id, valid_from_at order by loaded_at desc) = 1

)

select * from final
