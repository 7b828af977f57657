with

consents as (

    select * from {{ ref('stg_consent__consents') }}

),

as_of_dates as (

    select * from {{ ref('int_feature_cutoffs') }}

),

known_consents as (

    select
        as_of_dates.as_of_date,
        consents.customer_id,
        consents.purpose,
        consents.channel,
        consents.is_granted,
        consents.recorded_at,
        consents.consent_id
    from as_of_dates
    inner join consents on consents.recorded_at < as_of_dates.as_of_at

),

latest_consents as (

    {{ deduplicate(
        'known_consents',
        partition_by='as_of_date, customer_id, purpose, channel',
        order_by='recorded_at desc, consent_id desc',
    ) }}

),

final as (

    select
        as_of_date,
        customer_id,
        purpose,
        channel,
        is_granted,
        recorded_at
    from latest_consents

)

select * from final
