with

source as (

    select * from {{ source('call_center', 'contacts') }}

),

renamed as (

    select
        contact_id,
        phone_hash,
        cast(contacted_at as timestamp) as contacted_at,
        lower(trim(reason)) as contact_reason,
        cast(is_resolved as boolean) as is_resolved,
        cast(handle_seconds as bigint) as handle_seconds,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='contact_id', order_by='loaded_at desc') }}

)

select * from final
