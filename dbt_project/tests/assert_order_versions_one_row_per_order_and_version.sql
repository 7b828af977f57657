-- Order versions are keyed by (order_id, updated_at); validity intervals of one order never overlap.
select
    order_id,
    updated_at,
    count(*) as row_count
from {{ ref('stg_shop__order_versions') }}
group by order_id, updated_at
having count(*) > 1
