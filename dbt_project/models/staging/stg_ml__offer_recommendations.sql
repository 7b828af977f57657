with

source as (

    select * from {{ source('ml', 'offer_recommendations') }}

),

final as (

    select
        customer_id,
        as_of_date,
        model_name,
        model_version,
        scoring_run_id,
        scored_at,
        rank as offer_rank,
        offer_id,
        channel as offer_channel,
        propensity as offer_propensity,
        expected_value as offer_expected_value,
        reason as offer_reason
    from source

)

select * from final
