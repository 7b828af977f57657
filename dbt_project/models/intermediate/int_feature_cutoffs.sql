{%- set reporting_date = var('as_of_date') -%}
{%- set requested = var('feature_cutoffs') or [reporting_date] -%}

with

requested_cutoffs as (

    {% for cutoff in requested %}
    select cast('{{ cutoff }}' as date) as as_of_date
    {% if not loop.last %}union{% endif %}
    {% endfor %}

),

reporting_date as (

    select cast('{{ reporting_date }}' as date) as as_of_date

),

all_dates as (

    select as_of_date from requested_cutoffs where as_of_date <= cast('{{ reporting_date }}' as date)
    union
    select as_of_date from reporting_date

),

final as (

    select
        all_dates.as_of_date,
        cast(all_dates.as_of_date as timestamp) as as_of_at,
        requested_cutoffs.as_of_date is not null as is_feature_cutoff,
        all_dates.as_of_date = cast('{{ reporting_date }}' as date) as is_reporting_date
    from all_dates
    left join requested_cutoffs on requested_cutoffs.as_of_date = all_dates.as_of_date

)

select * from final
