with

source as (

    select * from {{ source('shop', 'reviews') }}

),

renamed as (

    select
        review_id,
        customer_id,
        product_id,
        cast(reviewed_at as timestamp) as reviewed_at,
        cast(rating as bigint) as rating,
        title,
        review_text,
        _loaded_at as loaded_at,
    from source

),

final as (

    select * from renamed
    qualify row_number() over (partition by review_id order by loaded_at desc) = 1

)

select * from final
