{{
    config(
        materialized='incremental',
        unique_key=['customer_id', 'as_of_date'],
        incremental_strategy='merge',
        on_schema_change='append_new_columns',
    )
}}

with

customer_360 as (

    select * from {{ ref('customer_360') }}

),

final as (

    select
        customer_id,
        as_of_date,
        rfm_segment,
        value_tier,
        sentiment_band,
        coalesce(loyalty_tier, 'none') as loyalty_tier,
        monetary_365d,
        latest_nps,
        nps_category,
        engagement_index,
        sentiment_level,
        churn_probability,
        health_index
    from customer_360

)

select * from final
