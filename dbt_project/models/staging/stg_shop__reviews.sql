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
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='review_id', order_by='loaded_at desc') }}

)

select * from final
