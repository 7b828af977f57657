{#- Part of the day of a UTC timestamp: night [0, 6), morning [6, 12), afternoon [12, 18), evening [18, 24). -#}
{% macro time_of_day(column) -%}
    case
        when extract(hour from {{ column }}) < 6 then 'night'
        when extract(hour from {{ column }}) < 12 then 'morning'
        when extract(hour from {{ column }}) < 18 then 'afternoon'
        else 'evening'
    end
{%- endmacro %}
