-- A churn label needs its whole horizon before the reporting date.
select *
from {{ ref('ml_churn_labels') }}
where as_of_date + churn_horizon_days > cast('{{ var("as_of_date") }}' as date)
