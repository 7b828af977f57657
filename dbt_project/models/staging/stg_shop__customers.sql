with

source as (

    select * from {{ source('shop', 'customers') }}

),

renamed as (

    select
        customer_id,
        email_hash,
        phone_hash,
        postal_code,
        cast(birth_year as bigint) as birth_year,
        lower(trim(gender)) as gender,
        cast(signup_at as timestamp) as signup_at,
        lower(trim(signup_channel)) as signup_channel,
        loyalty_card_id,
        cast(updated_at as timestamp) as updated_at,
        _loaded_at as loaded_at
    from source

),

final as (

    {{ deduplicate('renamed', partition_by='customer_id', order_by='updated_at desc, loaded_at desc') }}

)

select * from final
