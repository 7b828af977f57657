with

source as (

    select * from {{ source('ml', 'clv_scores') }}

),

final as (

    select
        customer_id,
        as_of_date,
        model_name,
        model_version,
        scoring_run_id,
        scored_at,
        predicted_clv_365d,
        expected_orders_365d
    from source

)

select * from final
