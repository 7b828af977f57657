-- SCD2 invariants: one current period per tiered customer, and each period ends where the next begins.
with

periods as (

    select
        customer_id,
        valid_from_at,
        valid_to_at,
        is_current,
        lead(valid_from_at) over (partition by customer_id order by valid_from_at) as next_valid_from_at
    from {{ ref('dim_customer_tier_history') }}

)

select customer_id, valid_from_at, valid_to_at, next_valid_from_at
from periods
where valid_to_at is distinct from next_valid_from_at
    or is_current <> (valid_to_at is null)
