select
    customer_id,
    as_of_date,
    count(*) as row_count
from {{ ref('ml_churn_labels') }}
group by customer_id, as_of_date
having count(*) > 1
