-- Traffic incidents by day, hour, type and accident type (the severity of an accident: property damage, injury,
-- fatal) at the three police levels. Traffic incidents are the traffic police's, not a station's: an incident has a
-- station only when the 110 call it came from names its handling unit; otherwise it belongs to its branch directly.
-- Days and hours are the city's (the session's zone is the site city's, see transforms/invocation.py); an incident
-- whose export gives no occurrence time (accident records that carry only the reported day) counts at its report time.
with incidents as (
    select
        i.*,
        coalesce(i.occurred_at, i.reported_at)::date as occurred_date,
        hour(coalesce(i.occurred_at, i.reported_at)) as occurred_hour,
        {{ police_levels('c.handling_unit', 'i.division_code') }}
    from {{ ref('stg_traffic_platform__incidents') }} as i
    left join {{ ref('stg_dispatch__alarm_calls') }} as c on c.call_id = i.related_call_id
),

codes as (
    select table_id, code, name_zh, name_en
    from {{ source('reference', 'code_values') }}
    where table_id in ('incident_type_traffic', 'traffic_accident_type')
)

select
    l.level,
    l.unit_code,
    l.parent_code,
    l.occurred_date,
    l.occurred_hour,
    l.incident_type,
    t.name_zh as incident_type_name_zh,
    t.name_en as incident_type_name_en,
    l.accident_type,
    a.name_zh as accident_type_name_zh,
    a.name_en as accident_type_name_en,
    count(*)::bigint as incidents,
    coalesce(sum(l.deaths), 0)::bigint as deaths,
    coalesce(sum(l.injuries), 0)::bigint as injuries,
    count(*) filter (where l.lanes_blocked > 0)::bigint as lane_blocking_incidents
from {{ three_levels('incidents') }} as l
left join codes as t on t.table_id = 'incident_type_traffic' and t.code = l.incident_type
left join codes as a on a.table_id = 'traffic_accident_type' and a.code = l.accident_type
group by all
order by all
