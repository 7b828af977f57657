{%- set segment_types = ['rfm_segment', 'value_tier', 'sentiment_band', 'loyalty_tier'] -%}

with

history as (

    select * from {{ ref('customer_360_history') }}
    where as_of_date <= cast('{{ var("as_of_date") }}' as date)

),

snapshots as (

    select
        as_of_date,
        lag(as_of_date) over (order by as_of_date) as previous_as_of_date
    from (select distinct as_of_date from history) as snapshot_dates

),

memberships as (

    {% for segment_type in segment_types %}
    select
        as_of_date,
        customer_id,
        '{{ segment_type }}' as segment_type,
        {{ segment_type }} as segment,
        monetary_365d,
        latest_nps,
        nps_category,
        engagement_index,
        sentiment_level,
        churn_probability,
        health_index
    from history
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

segment_metrics as (

    select
        as_of_date,
        segment_type,
        segment,
        count(*) as customers,
        sum(monetary_365d) as revenue_365d,
        avg(latest_nps) as avg_nps,
        100.0 * (
            count(*) filter (where nps_category = 'promoter')
            - count(*) filter (where nps_category = 'detractor')
        ) / nullif(count(latest_nps), 0) as nps,
        avg(engagement_index) as avg_engagement_index,
        avg(sentiment_level) as avg_sentiment,
        avg(churn_probability) as avg_churn_probability,
        avg(health_index) as avg_health_index
    from memberships
    group by as_of_date, segment_type, segment

),

current_members as (

    select snapshots.as_of_date, memberships.customer_id, memberships.segment_type, memberships.segment
    from snapshots
    inner join memberships on memberships.as_of_date = snapshots.as_of_date
    where snapshots.previous_as_of_date is not null

),

previous_members as (

    -- the previous snapshot's members, keyed by the snapshot they are compared with
    select snapshots.as_of_date, memberships.customer_id, memberships.segment_type, memberships.segment
    from snapshots
    inner join memberships on memberships.as_of_date = snapshots.previous_as_of_date

),

moves as (

    select
        coalesce(current_members.as_of_date, previous_members.as_of_date) as as_of_date,
        coalesce(current_members.segment_type, previous_members.segment_type) as segment_type,
        current_members.segment as current_segment,
        previous_members.segment as previous_segment
    from current_members
    full outer join previous_members
        on previous_members.as_of_date = current_members.as_of_date
        and previous_members.customer_id = current_members.customer_id
        and previous_members.segment_type = current_members.segment_type

),

movement as (

    select as_of_date, segment_type, current_segment as segment, count(*) as moved_in, 0 as moved_out
    from moves
    where current_segment is distinct from previous_segment and current_segment is not null
    group by 1, 2, 3
    union all
    select as_of_date, segment_type, previous_segment as segment, 0 as moved_in, count(*) as moved_out
    from moves
    where current_segment is distinct from previous_segment and previous_segment is not null
    group by 1, 2, 3

),

movement_totals as (

    select as_of_date, segment_type, segment, sum(moved_in) as moved_in, sum(moved_out) as moved_out
    from movement
    group by as_of_date, segment_type, segment

),

final as (

    select
        segment_metrics.as_of_date,
        segment_metrics.segment_type,
        segment_metrics.segment,
        segment_metrics.customers,
        segment_metrics.revenue_365d,
        segment_metrics.avg_nps,
        segment_metrics.nps,
        segment_metrics.avg_engagement_index,
        segment_metrics.avg_sentiment,
        segment_metrics.avg_churn_probability,
        segment_metrics.avg_health_index,
        case when snapshots.previous_as_of_date is not null then coalesce(movement_totals.moved_in, 0) end
            as moved_in,
        case when snapshots.previous_as_of_date is not null then coalesce(movement_totals.moved_out, 0) end
            as moved_out,
        snapshots.previous_as_of_date
    from segment_metrics
    inner join snapshots on snapshots.as_of_date = segment_metrics.as_of_date
    left join movement_totals
        on movement_totals.as_of_date = segment_metrics.as_of_date
        and movement_totals.segment_type = segment_metrics.segment_type
        and movement_totals.segment = segment_metrics.segment

)

select * from final
