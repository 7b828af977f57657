select customer_id, as_of_date, count(*) as rows_for_key
from {{ ref('customer_360_history') }}
group by customer_id, as_of_date
having count(*) > 1
