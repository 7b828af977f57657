-- Every feature row is computed from rows with event (and attribution) time before its as-of date.
select
    customer_id,
    as_of_date,
    last_source_event_at
from {{ ref('int_customer_features_as_of') }}
where last_source_event_at >= cast(as_of_date as timestamp)
