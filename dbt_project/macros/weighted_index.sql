{#- 100 x the weighted mean of the components (SQL expressions in 0..1) that are not null:
    `components` maps a weight name to its expression, `weights` (a var) maps it to its weight. A
    missing component drops out of the mean instead of counting as 0, so a customer who never
    answered a survey is neither punished nor rewarded for it; null when every component is null. -#}
{% macro weighted_index(components, weights) -%}
    100.0 * (
        {%- for name, expression in components.items() %}
        coalesce({{ weights[name] }} * ({{ expression }}), 0){{ ' +' if not loop.last }}
        {%- endfor %}
    ) / nullif(
        {%- for name, expression in components.items() %}
        case when ({{ expression }}) is not null then {{ weights[name] }} else 0 end{{ ' +' if not loop.last }}
        {%- endfor %}
    , 0)
{%- endmacro %}
