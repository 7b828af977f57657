{#- A `case` that returns the `segment` of the first rule whose bounds all hold.
    `rules` is a list like var('rfm_segments'): {segment, min_<name>, max_<name>} with <name> a key of
    `scores` (e.g. recency -> 'rfm_recency_score'); a rule without bounds matches every row. Rules
    live in vars so analysts change segment definitions in dbt_project.yml, not in SQL. -#}
{% macro first_matching_rule(rules, scores) -%}
    case
    {%- for rule in rules %}
        {%- set conditions = [] %}
        {%- for name, column in scores.items() %}
            {%- if rule.get('min_' ~ name) is not none %}
                {%- do conditions.append(column ~ ' >= ' ~ rule['min_' ~ name]) %}
            {%- endif %}
            {%- if rule.get('max_' ~ name) is not none %}
                {%- do conditions.append(column ~ ' <= ' ~ rule['max_' ~ name]) %}
            {%- endif %}
        {%- endfor %}
        when {{ conditions | join(' and ') if conditions else 'true' }} then '{{ rule.segment }}'
    {%- endfor %}
    end
{%- endmacro %}
