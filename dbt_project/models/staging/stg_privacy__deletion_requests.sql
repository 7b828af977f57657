with

source as (

    select * from {{ source('privacy', 'deletion_requests') }}

),

renamed as (

    select
        request_id,
        customer_id,
        cast(requested_at as timestamp) as requested_at,
        lower(trim(channel)) as channel,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='request_id', order_by='loaded_at desc') }}

)

select * from final
