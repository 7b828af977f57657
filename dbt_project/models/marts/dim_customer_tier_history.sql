with

tier_changes as (

    select * from {{ ref('stg_loyalty__tier_changes') }}

),

known_changes as (

    select
        tier_change_id,
        customer_id,
        loyalty_tier,
        points_balance,
        valid_from_at
    from tier_changes
    where valid_from_at < cast('{{ var("as_of_date") }}' as timestamp)

),

versioned as (

    select
        *,
        lag(loyalty_tier) over (partition by customer_id order by valid_from_at) as previous_loyalty_tier,
        lead(valid_from_at) over (partition by customer_id order by valid_from_at) as valid_to_at,
        row_number() over (partition by customer_id order by valid_from_at) as tier_version
    from known_changes

),

final as (

    select
        tier_change_id,
        customer_id,
        tier_version,
        loyalty_tier,
        previous_loyalty_tier,
        case
            when previous_loyalty_tier is null then 'joined'
            when {{ loyalty_tier_rank('loyalty_tier') }} > {{ loyalty_tier_rank('previous_loyalty_tier') }}
                then 'upgraded'
            when {{ loyalty_tier_rank('loyalty_tier') }} < {{ loyalty_tier_rank('previous_loyalty_tier') }}
                then 'downgraded'
            else 'renewed'
        end as change_type,
        points_balance,
        valid_from_at,
        valid_to_at,
        valid_to_at is null as is_current,
        cast('{{ var("as_of_date") }}' as date) as as_of_date
    from versioned

)

select * from final
