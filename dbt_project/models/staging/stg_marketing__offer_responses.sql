with

source as (

    select * from {{ source('marketing', 'offer_responses') }}

),

renamed as (

    select
        assignment_id,
        campaign_id,
        customer_id,
        offer_id,
        lower(trim(assignment_group)) as assignment_group,
        cast(sent_at as timestamp) as sent_at,
        cast(has_responded as boolean) as has_responded,
        cast(responded_at as timestamp) as responded_at,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='assignment_id', order_by='loaded_at desc') }}

)

select * from final
