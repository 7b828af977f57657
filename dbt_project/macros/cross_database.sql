{#- SQL that differs between warehouses, dispatched per adapter (duckdb__/postgres__/default__), for what
    dbt's own cross-database macros (dbt.datediff, dbt.dateadd, dbt.date_trunc, dbt.hash, dbt.type_*)
    do not cover. Models call these instead of DuckDB-only syntax, so changing the target
    (RAPPORT_DBT_TARGET) never means changing a model. -#}


{#- One row per `partition_by` from `relation` (a CTE or relation name): the first in `order_by`.
    Same arguments as dbt_utils.deduplicate. Write `desc nulls last` where the column can be null:
    Postgres sorts nulls first in descending order, DuckDB last. -#}
{% macro deduplicate(relation, partition_by, order_by) -%}
    {{ return(adapter.dispatch('deduplicate')(relation, partition_by, order_by)) }}
{%- endmacro %}

{% macro default__deduplicate(relation, partition_by, order_by) -%}
    select *
    from {{ relation }}
    qualify row_number() over (partition by {{ partition_by }} order by {{ order_by }}) = 1
{%- endmacro %}

{% macro postgres__deduplicate(relation, partition_by, order_by) -%}
    select distinct on ({{ partition_by }}) *
    from {{ relation }}
    order by {{ partition_by }}, {{ order_by }}
{%- endmacro %}


{#- Aggregate: `value` at the row with the greatest `by` among the rows where `where` holds (SQL, optional);
    rows where `value` or `by` is null are skipped, as DuckDB's arg_max skips them. -#}
{% macro arg_max(value, by, where=none) -%}
    {{ return(adapter.dispatch('arg_max')(value, by, where)) }}
{%- endmacro %}

{% macro duckdb__arg_max(value, by, where) -%}
    arg_max({{ value }}, {{ by }}){% if where %} filter (where {{ where }}){% endif %}
{%- endmacro %}

{% macro default__arg_max(value, by, where) -%}
    (array_agg({{ value }} order by {{ by }} desc) filter (
        where {{ value }} is not null and {{ by }} is not null{% if where %} and ({{ where }}){% endif %}
    ))[1]
{%- endmacro %}


{#- `alias.*` without the columns in `except` (a list of names). On adapters without `* exclude`, the
    columns are read from `relation`'s catalog when the model runs. -#}
{% macro star_except(relation, alias, except) -%}
    {{ return(adapter.dispatch('star_except')(relation, alias, except)) }}
{%- endmacro %}

{% macro duckdb__star_except(relation, alias, except) -%}
    {{ alias }}.* exclude ({{ except | join(', ') }})
{%- endmacro %}

{% macro default__star_except(relation, alias, except) -%}
    {%- if not execute -%}
        {{ return(alias ~ '.*') }}
    {%- endif -%}
    {%- set excluded = except | map('lower') | list -%}
    {%- set columns = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- if column.name | lower not in excluded -%}
            {%- do columns.append(alias ~ '.' ~ adapter.quote(column.name)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not columns -%}
        {{ exceptions.raise_compiler_error('star_except: no columns left of ' ~ relation ~ ' (is it built?)') }}
    {%- endif -%}
    {{ columns | join(',\n        ') }}
{%- endmacro %}


{#- The 8-byte floating point type. dbt.type_float() is `float`, which DuckDB reads as a 4-byte real. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}
