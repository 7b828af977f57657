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
        cast(control_share as double) as control_share,
        _loaded_at as loaded_at,
    from source

),

final as (

    select * from renamed
    qualify row_number() over (partition by campaign_id order by loaded_at desc) = 1

)

select * from final
