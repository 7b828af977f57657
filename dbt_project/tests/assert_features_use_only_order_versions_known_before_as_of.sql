-- Point in time: every feature row reads, per order, the version written before its as-of date,
-- never a later correction (a status changed after the cutoff would leak the future into training).
select
    customer_id,
    as_of_date,
    last_order_updated_at
from {{ ref('int_customer_features_as_of') }}
where last_order_updated_at >= cast(as_of_date as timestamp)
