with

source as (

    select * from {{ source('ml', 'churn_scores') }}

),

final as (

    select
        customer_id,
        as_of_date,
        model_name,
        model_version,
        scoring_run_id,
        scored_at,
        churn_probability,
        risk_band as churn_risk_band,
        reason_1 as churn_reason_1,
        reason_2 as churn_reason_2,
        reason_3 as churn_reason_3
    from source

)

select * from final
