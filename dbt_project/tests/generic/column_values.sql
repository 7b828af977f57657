{#- Many column checks on one model in one scan, instead of one dbt test (one node, one query) per column
    and check: `not_null` (a list of columns) and `accepted_values` ({column: [values]}; nulls pass, as in
    dbt's accepted_values; numbers are compared unquoted, everything else as strings).

        data_tests:
          - column_values:
              arguments:
                not_null: [customer_id, as_of_date]
                accepted_values: {rfm_segment: [champions, loyal, lost], rfm_recency_score: [1, 2, 3, 4, 5]}

    Returns one row per failing check: column_name, check_name, failing_rows and an example_value (the
    smallest offending value, for accepted_values). The test's failure count is the number of offending
    rows over all checks; `dbt show --select <test>` or the compiled SQL lists which column failed. -#}
{% test column_values(model, not_null=[], accepted_values={}) %}

{{ config(fail_calc='coalesce(sum(failing_rows), 0)') }}

{%- set checks = [] -%}
{%- for column in not_null -%}
    {%- do checks.append({
        'column': column,
        'check': 'not_null',
        'failing': column ~ ' is null',
        'example': none,
    }) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
    {%- set literals = [] -%}
    {%- for value in values -%}
        {%- if value is number -%}
            {%- do literals.append(value | string) -%}
        {%- else -%}
            {%- do literals.append("'" ~ (value | string | replace("'", "''")) ~ "'") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do checks.append({
        'column': column,
        'check': 'accepted_values',
        'failing': column ~ ' is not null and ' ~ column ~ ' not in (' ~ literals | join(', ') ~ ')',
        'example': column,
    }) -%}
{%- endfor -%}
{%- if not checks -%}
    {{ exceptions.raise_compiler_error("column_values on " ~ model ~ ": give not_null columns or accepted_values") }}
{%- endif %}

with

counts as (

    select
        {%- for check in checks %}
        count(*) filter (where {{ check.failing }}) as failing_{{ loop.index }},
        {%- if check.example %}
        min(cast({{ check.example }} as {{ dbt.type_string() }})) filter (where {{ check.failing }}) as example_{{ loop.index }}
        {%- else %}
        cast(null as {{ dbt.type_string() }}) as example_{{ loop.index }}
        {%- endif %}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ model }}

),

checks as (

    {%- for check in checks %}
    select
        '{{ check.column }}' as column_name,
        '{{ check.check }}' as check_name,
        failing_{{ loop.index }} as failing_rows,
        example_{{ loop.index }} as example_value
    from counts
    {{ 'union all' if not loop.last }}
    {%- endfor %}

)

select * from checks
where failing_rows > 0

{% endtest %}
