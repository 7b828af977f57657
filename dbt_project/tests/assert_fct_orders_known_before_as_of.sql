-- fct_orders holds, per order, the version known just before the as-of date: never a later one.
select order_id, ordered_at, updated_at, as_of_date
from {{ ref('fct_orders') }}
where updated_at >= cast('{{ var("as_of_date") }}' as timestamp)
    or ordered_at >= cast('{{ var("as_of_date") }}' as timestamp)
    or as_of_date <> cast('{{ var("as_of_date") }}' as date)
