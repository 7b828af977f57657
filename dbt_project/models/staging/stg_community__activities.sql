with

source as (

    select * from {{ source('community', 'activities') }}

),

renamed as (

    select
        activity_id,
        customer_id,
        lower(trim(activity_type)) as activity_type,
        cast(occurred_at as timestamp) as occurred_at,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='activity_id', order_by='loaded_at desc') }}

)

select * from final
