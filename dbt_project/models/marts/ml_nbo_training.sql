with

offer_responses as (

    select * from {{ ref('stg_marketing__offer_responses') }}

),

offers as (

    select * from {{ ref('stg_marketing__offers') }}

),

customer_features as (

    select * from {{ ref('ml_customer_features') }}

),

sent_responses as (

    select
        assignment_id,
        customer_id,
        offer_id,
        campaign_id,
        assignment_group,
        sent_at,
        cast({{ dbt.date_trunc('day', 'sent_at') }} as date) as sent_date,
        -- a response counts only inside the offer's response window and before the as-of date
        has_responded
            and (
                responded_at is null
                or (
                    responded_at < cast('{{ var("as_of_date") }}' as timestamp)
                    and responded_at < sent_at + interval '{{ var("nbo_response_window_days") }} days'
                )
            ) as has_responded
    from offer_responses
    where sent_at < cast('{{ var("as_of_date") }}' as timestamp)

),

final as (

    select
        sent_responses.assignment_id,
        sent_responses.customer_id,
        sent_responses.offer_id,
        offers.offer_type,
        offers.channel,
        sent_responses.campaign_id,
        sent_responses.sent_date,
        sent_responses.assignment_group,
        sent_responses.has_responded,
        {{ star_except(ref('ml_customer_features'), 'customer_features', ['customer_id', 'as_of_date']) }}
    from sent_responses
    left join offers on offers.offer_id = sent_responses.offer_id
    left join customer_features
        on customer_features.customer_id = sent_responses.customer_id
        and customer_features.as_of_date = sent_responses.sent_date

)

select * from final
