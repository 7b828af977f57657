with

source as (

    select * from {{ source('marketing', 'offers') }}

),

renamed as (

    select
        offer_id,
        lower(trim(offer_type)) as offer_type,
        lower(trim(channel)) as channel,
        cast(unit_cost as double) as unit_cost,
        description as offer_description,
        cast(updated_at as timestamp) as updated_at,
        _loaded_at as loaded_at,
    from source

),

final as (

    select * from renamed
    qualify row_number() over (partition by offer_id order by updated_at desc, loaded_at desc) = 1

)

select * from final
