with

source as (

    select * from {{ source('ml', 'review_sentiment') }}

),

final as (

    select
        review_id,
        customer_id,
        as_of_date,
        model_name,
        model_version,
        scoring_run_id,
        scored_at,
        label as sentiment_label,
        score as sentiment_score,
        p_negative,
        p_neutral,
        p_positive
    from source

)

select * from final
