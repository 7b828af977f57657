with

customers as (

    select * from {{ ref('stg_shop__customers') }}

),

customer_features as (

    select * from {{ ref('int_customer_features_as_of') }}
    where is_reporting_date

),

tier_history as (

    select * from {{ ref('dim_customer_tier_history') }}

),

tiers as (

    select
        customer_id,
        max(case when is_current then loyalty_tier end) as loyalty_tier,
        max(case when is_current then cast(valid_from_at as date) end) as loyalty_tier_since_date,
        count(*) as loyalty_tier_changes
    from tier_history
    group by customer_id

),

final as (

    select
        customers.customer_id,
        customer_features.as_of_date,
        customer_features.signup_date,
        customers.signup_channel,
        customers.gender,
        customers.birth_year,
        customers.postal_code,
        customers.loyalty_card_id is not null as has_loyalty_card,
        tiers.loyalty_tier,
        tiers.loyalty_tier_since_date,
        coalesce(tiers.loyalty_tier_changes, 0) as loyalty_tier_changes,
        customer_features.has_analytics_consent,
        customer_features.has_profiling_consent,
        customer_features.has_marketing_consent,
        customer_features.has_email_consent,
        customer_features.has_sms_consent,
        customer_features.has_push_consent
    from customers
    inner join customer_features on customer_features.customer_id = customers.customer_id
    left join tiers on tiers.customer_id = customers.customer_id

)

select * from final
