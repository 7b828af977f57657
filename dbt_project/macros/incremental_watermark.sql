{#- `max(column) - lookback_days` of the incremental model being built: rows changed after it are
    re-read, so data that arrives a few days late still lands. '1900-01-01' when the model is empty. -#}
{% macro incremental_watermark(column) -%}
    (
        select coalesce(max({{ column }}), cast('1900-01-01' as timestamp))
        from {{ this }}
    ) - interval '{{ var("lookback_days") | int }} days'
{%- endmacro %}


{#- Pre-hook of as-of dependent incremental models: when the run's as-of date is earlier than the one
    the model holds (a replay or backfill), empty it so the run rebuilds it as of that date instead
    of merging an older state into a newer one. -#}
{% macro reset_when_replaying(as_of_column='as_of_date') -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where (select max({{ as_of_column }}) from {{ this }}) > cast('{{ var("as_of_date") }}' as date)
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
