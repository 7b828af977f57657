with

source as (

    select * from {{ source('marketing', 'interactions') }}

),

renamed as (

    select
        interaction_id,
        customer_id,
        lower(trim(channel)) as channel,
        lower(trim(interaction_type)) as interaction_type,
        campaign_id,
        cast(occurred_at as timestamp) as occurred_at,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='interaction_id', order_by='loaded_at desc') }}

)

select * from final
