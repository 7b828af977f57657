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
        consents.consent_id,
    from as_of_dates
    inner join consents on consents.recorded_at < as_of_dates.as_of_at

),

final as (

    select
        as_of_date,
        customer_id,
        purpose,
        channel,
        is_granted,
        recorded_at,
    from known_consents
    qualify row_number() over (
        partition by as_of_date, customer_id, purpose, channel
        order by recorded_at desc, consent_id desc
    ) = 1

)

select * from final
