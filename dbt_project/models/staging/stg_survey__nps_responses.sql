with

source as (

    select * from {{ source('survey', 'nps_responses') }}

),

renamed as (

    select
        survey_id,
        customer_id,
        cast(answered_at as timestamp) as answered_at,
        cast(score as bigint) as nps_score,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='survey_id', order_by='loaded_at desc') }}

)

select * from final
