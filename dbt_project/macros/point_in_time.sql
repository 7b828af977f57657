{#- The version of a versioned row (valid_from_at, valid_to_at; e.g. stg_shop__order_versions) that was the
    latest one written before `at`: a later correction never leaks into what was known at `at`. -#}
{% macro version_known_at(alias, at) -%}
    {{ alias }}.valid_from_at < {{ at }}
    and ({{ alias }}.valid_to_at is null or {{ alias }}.valid_to_at >= {{ at }})
{%- endmacro %}
