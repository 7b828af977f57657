with

source as (

    select * from {{ source('marketing', 'offers') }}

),

renamed as (

    select
        offer_id,
        lower(trim(offer_type)) as offer_type,
        lower(trim(channel)) as channel,
        cast(unit_cost as {{ type_double() }}) as unit_cost,
        description as offer_description,
        cast(updated_at as timestamp) as updated_at,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='offer_id', order_by='updated_at desc, loaded_at desc') }}

)

select * from final
