-- No date in customer_360 may lie on or after the as-of date: everything comes from before it.
select
    customer_id,
    as_of_date,
    first_order_date,
    last_negative_review_date,
    loyalty_tier_since_date
from {{ ref('customer_360') }}
where as_of_date <> cast('{{ var("as_of_date") }}' as date)
    or first_order_date >= as_of_date
    or last_negative_review_date >= as_of_date
    or loyalty_tier_since_date >= as_of_date
    or signup_date >= as_of_date
