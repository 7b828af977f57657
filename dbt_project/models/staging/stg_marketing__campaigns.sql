with

source as (

    select * from {{ source('marketing', 'campaigns') }}

),

renamed as (

    select
        campaign_id,
        offer_id,
        campaign_name,
        cast(started_at as timestamp) as started_at,
        cast(control_share as {{ type_double() }}) as control_share,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='campaign_id', order_by='loaded_at desc') }}

)

select * from final
