-- Every segment type splits a snapshot's customers exactly: the segments' customers add up to the snapshot's.
with

segment_totals as (

    select as_of_date, segment_type, sum(customers) as customers
    from {{ ref('segment_health') }}
    group by as_of_date, segment_type

),

snapshot_totals as (

    select as_of_date, count(*) as customers
    from {{ ref('customer_360_history') }}
    where as_of_date <= cast('{{ var("as_of_date") }}' as date)
    group by as_of_date

)

select segment_totals.*, snapshot_totals.customers as snapshot_customers
from segment_totals
left join snapshot_totals using (as_of_date)
where snapshot_totals.customers is null or segment_totals.customers <> snapshot_totals.customers
