{%- set horizon_days = var('churn_horizon_days') | int -%}

with

customer_features as (

    select * from {{ ref('int_customer_features_as_of') }}

),

order_versions as (

    select * from {{ ref('stg_shop__order_versions') }}

),

labelable_customers as (

    select
        customer_id,
        as_of_date,
        cast(as_of_date as timestamp) as window_start_at,
        cast(as_of_date as timestamp) + interval '{{ horizon_days }} days' as window_end_at
    from customer_features
    where is_feature_cutoff
        and is_active_365d
        and as_of_date + {{ horizon_days }} <= cast('{{ var("as_of_date") }}' as date)

),

returning_customers as (

    select distinct
        labelable_customers.customer_id,
        labelable_customers.as_of_date
    from labelable_customers
    inner join order_versions
        on order_versions.customer_id = labelable_customers.customer_id
        and order_versions.ordered_at >= labelable_customers.window_start_at
        and order_versions.ordered_at < labelable_customers.window_end_at
        and {{ version_known_at('order_versions', 'labelable_customers.window_end_at') }}
    where order_versions.status in ('completed', 'returned')

),

final as (

    select
        labelable_customers.customer_id,
        labelable_customers.as_of_date,
        {{ horizon_days }} as churn_horizon_days,
        returning_customers.customer_id is null as is_churned
    from labelable_customers
    left join returning_customers using (customer_id, as_of_date)

)

select * from final
