with

source as (

    select * from {{ source('consent', 'consents') }}

),

renamed as (

    select
        consent_id,
        customer_id,
        lower(trim(purpose)) as purpose,
        lower(trim(channel)) as channel,
        cast(is_granted as boolean) as is_granted,
        cast(recorded_at as timestamp) as recorded_at,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='consent_id', order_by='loaded_at desc') }}

)

select * from final
