-- Link availability and utilisation per day (the city's local day, as the state tables' times), per link level
-- (city 市局, branch 分局, station 派出所, access 接入点: the level of the link's downstream node) and operator, with
-- the rows for a level over all operators (operator 'all') and for an operator over all levels (level 'all').
-- link_minutes: the minutes of the day each link was observed (its link_state stays, an open stay running to the
-- telemetry's last evidence); down_minutes / saturated_minutes: those in a down / saturated stay; availability =
-- 1 − down_minutes ÷ link_minutes (the share of link-minutes not down). Utilisation over the link-minutes with a
-- reading (silver.link_utilisation; a counter reset leaves a minute without one): mean, 95th percentile, peak.
with links as (
    select * from {{ ref('stg_network__links') }}
),

states as (
    select * from {{ ref('stg_network_health__link_states') }}
),

evidence_end as (
    select max(greatest(since, coalesce(until, since), coalesce(last_evidence_at, since))) as as_of from states
),

stays as (
    select s.link_id, s.state, s.since, coalesce(s.until, e.as_of) as stay_end
    from states as s cross join evidence_end as e
),

days as (
    select unnest(generate_series(first_day, last_day, interval 1 day))::date as day
    from (select min(since)::date::timestamp as first_day, max(stay_end)::date::timestamp as last_day from stays)
),

-- Each stay's part in each day it touches, in minutes.
stay_days as (
    select s.link_id, d.day, s.state,
           epoch(least(s.stay_end, d.day + interval 1 day) - greatest(s.since, d.day::timestamp)) / 60.0 as minutes
    from stays as s
    join days as d on s.since < d.day + interval 1 day and s.stay_end > d.day::timestamp
),

link_days as (
    select link_id, day, sum(minutes) as link_minutes,
           coalesce(sum(minutes) filter (where state = 'down'), 0) as down_minutes,
           coalesce(sum(minutes) filter (where state = 'saturated'), 0) as saturated_minutes
    from stay_days group by all
),

readings as (
    select link_id, minute::date as day, utilisation
    from {{ ref('stg_network_health__link_utilisation') }}
    where utilisation is not null
),

observed as (
    select l.level, l.operator, d.day, d.link_id, d.link_minutes, d.down_minutes, d.saturated_minutes,
           null::double as utilisation
    from link_days as d join links as l using (link_id)
    union all
    select l.level, l.operator, r.day, r.link_id, 0, 0, 0, r.utilisation
    from readings as r join links as l using (link_id)
),

grouped as (
    select
        day,
        coalesce(level, 'all') as level,
        coalesce(operator, 'all') as operator,
        count(distinct link_id)::bigint as links,
        sum(link_minutes)::double as link_minutes,
        sum(down_minutes)::double as down_minutes,
        sum(saturated_minutes)::double as saturated_minutes,
        avg(utilisation)::double as mean_utilisation,
        quantile_cont(utilisation, 0.95)::double as p95_utilisation,
        max(utilisation)::double as peak_utilisation
    from observed
    group by grouping sets ((day, level, operator), (day, level), (day, operator))
)

select
    day,
    level,
    operator,
    links,
    link_minutes,
    down_minutes,
    saturated_minutes,
    (1 - down_minutes / nullif(link_minutes, 0))::double as availability,
    mean_utilisation,
    p95_utilisation,
    peak_utilisation
from grouped
order by day, level, operator
