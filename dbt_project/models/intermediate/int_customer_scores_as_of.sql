{%- set models = var('score_model_names') -%}
{%- set as_of_date = "cast('" ~ var('as_of_date') ~ "' as date)" -%}

with

churn_scores as (

    select * from {{ ref('stg_ml__churn_scores') }}

),

clv_scores as (

    select * from {{ ref('stg_ml__clv_scores') }}

),

offer_recommendations as (

    select * from {{ ref('stg_ml__offer_recommendations') }}

),

review_sentiment as (

    select * from {{ ref('stg_ml__review_sentiment') }}

),

reviews as (

    select * from {{ ref('stg_shop__reviews') }}

),

churn_of_the_day as (

    select
        customer_id,
        churn_probability,
        churn_risk_band,
        churn_reason_1 as churn_top_reason,
        model_version as churn_model_version,
        scored_at
    from churn_scores
    where as_of_date = {{ as_of_date }} and model_name = '{{ models.churn }}'

),

churn as (

    {{ deduplicate('churn_of_the_day', partition_by='customer_id', order_by='scored_at desc nulls last') }}

),

clv_of_the_day as (

    select
        customer_id,
        predicted_clv_365d,
        expected_orders_365d,
        scored_at
    from clv_scores
    where as_of_date = {{ as_of_date }} and model_name = '{{ models.clv }}'

),

clv as (

    {{ deduplicate('clv_of_the_day', partition_by='customer_id', order_by='scored_at desc nulls last') }}

),

next_best_offers_of_the_day as (

    select
        customer_id,
        offer_id as next_best_offer_id,
        offer_channel as next_best_offer_channel,
        offer_expected_value as next_best_offer_expected_value,
        offer_reason as next_best_offer_reason,
        offer_rank,
        scored_at
    from offer_recommendations
    where as_of_date = {{ as_of_date }} and model_name = '{{ models.nbo }}'

),

next_best_offers as (

    {{ deduplicate(
        'next_best_offers_of_the_day',
        partition_by='customer_id',
        order_by='offer_rank, scored_at desc nulls last',
    ) }}

),

review_sentiment_scores as (

    select
        review_sentiment.review_id,
        reviews.customer_id,
        reviews.reviewed_at,
        review_sentiment.sentiment_label,
        review_sentiment.sentiment_score,
        review_sentiment.as_of_date as scored_as_of_date,
        review_sentiment.scored_at
    from review_sentiment
    inner join reviews on reviews.review_id = review_sentiment.review_id
    where review_sentiment.as_of_date <= {{ as_of_date }}
        and review_sentiment.model_name = '{{ models.sentiment }}'
        and reviews.reviewed_at < cast({{ as_of_date }} as timestamp)

),

latest_review_sentiment as (

    -- reviews are scored once, when new: each review's latest score written on or before the as-of date
    {{ deduplicate(
        'review_sentiment_scores',
        partition_by='review_id',
        order_by='scored_as_of_date desc, scored_at desc nulls last',
    ) }}

),

sentiment as (

    select
        customer_id,
        avg(sentiment_score) filter (
            where reviewed_at >= cast({{ as_of_date }} as timestamp) - interval '365 days'
        ) as sentiment_level,
        avg(sentiment_score) filter (
            where reviewed_at >= cast({{ as_of_date }} as timestamp) - interval '180 days'
        ) - avg(sentiment_score) filter (
            where reviewed_at < cast({{ as_of_date }} as timestamp) - interval '180 days'
            and reviewed_at >= cast({{ as_of_date }} as timestamp) - interval '365 days'
        ) as sentiment_trend,
        count(*) filter (
            where reviewed_at >= cast({{ as_of_date }} as timestamp) - interval '365 days'
        ) as scored_reviews_365d,
        cast(max(reviewed_at) filter (where sentiment_label = 'negative') as date) as last_negative_review_date
    from latest_review_sentiment
    group by customer_id

),

customers as (

    select customer_id from churn
    union
    select customer_id from clv
    union
    select customer_id from next_best_offers
    union
    select customer_id from sentiment

),

final as (

    select
        customers.customer_id,
        {{ as_of_date }} as as_of_date,
        churn.churn_probability,
        churn.churn_risk_band,
        churn.churn_top_reason,
        churn.churn_model_version,
        clv.predicted_clv_365d,
        clv.expected_orders_365d,
        next_best_offers.next_best_offer_id,
        next_best_offers.next_best_offer_channel,
        next_best_offers.next_best_offer_expected_value,
        next_best_offers.next_best_offer_reason,
        sentiment.sentiment_level,
        sentiment.sentiment_trend,
        coalesce(sentiment.scored_reviews_365d, 0) as scored_reviews_365d,
        sentiment.last_negative_review_date
    from customers
    left join churn on churn.customer_id = customers.customer_id
    left join clv on clv.customer_id = customers.customer_id
    left join next_best_offers on next_best_offers.customer_id = customers.customer_id
    left join sentiment on sentiment.customer_id = customers.customer_id

)

select * from final
