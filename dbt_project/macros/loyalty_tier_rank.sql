{#- Rank of a loyalty tier: bronze (or none) 1, silver 2, gold 3, platinum 4. -#}
{% macro loyalty_tier_rank(column) -%}
    case {{ column }}
        when 'platinum' then 4
        when 'gold' then 3
        when 'silver' then 2
        else 1
    end
{%- endmacro %}
