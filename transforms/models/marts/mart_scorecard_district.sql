-- Informationization construction scorecard per district on a 100-point scale (weights and targets:
-- config/scorecard.yaml). A row per district and indicator: its value, target, weight, achievement
-- (value ÷ target, at most 1) and contribution (weight × achievement); district_score adds the contributions.
-- An indicator without data (no calls, no snapshots) contributes nothing and says so in has_value.
-- Calls without a division code are not dropped: they form the "unassigned" row (未分配, is_unassigned), which shows
-- how many calls no district answers for and how they were served; it is not a district and ranks with none.
{%- set indicators = safecity_var('scorecard') or [] %}
with cameras as (
    select * from {{ ref('mart_camera_kpis_by_district') }}
),

documented as (
    select division_code, (count(*) filter (where is_documented) / count(*))::double as data_conformance_rate
    from {{ ref('int_cameras__health') }}
    where in_denominator
    group by division_code
),

response as (
    select
        branch_code as division_code,
        count(*)::bigint as calls,
        (count(*) filter (where arrived_within_target) / nullif(count(received_to_arrived_s), 0))::double
            as response_within_target
    from {{ ref('fct_alarm_calls') }}
    group by branch_code
),

districts as (
    select division_code from cameras
    union
    select division_code from response
),

values_wide as (
    select
        k.division_code,
        coalesce(c.division_name_zh, case when k.division_code = {{ unassigned_code() }} then '未分配' end)
            as division_name_zh,
        k.division_code = {{ unassigned_code() }} as is_unassigned,
        coalesce(r.calls, 0)::bigint as calls,
        c.key_place_coverage,
        c.hd_ratio,
        c.online_rate,
        c.intact_rate,
        c.networking_rate,
        d.data_conformance_rate,
        r.response_within_target
    from districts as k
    left join cameras as c using (division_code)
    left join documented as d using (division_code)
    left join response as r using (division_code)
),

config as (
    select id as indicator, name_zh as indicator_name_zh, name_en as indicator_name_en, weight, target
    from {{ values_table(indicators, [('id', 'varchar'), ('name_zh', 'varchar'), ('name_en', 'varchar'),
                                      ('weight', 'double'), ('target', 'double')]) }}
),

long as (
    unpivot values_wide
    on key_place_coverage, hd_ratio, online_rate, intact_rate, networking_rate, data_conformance_rate, response_within_target
    into name indicator value value
),

scored as (
    select
        w.division_code,
        w.division_name_zh,
        w.is_unassigned,
        w.calls,
        c.indicator,
        c.indicator_name_zh,
        c.indicator_name_en,
        l.value,
        c.target,
        c.weight,
        l.value is not null as has_value,
        coalesce(least(l.value / c.target, 1.0), 0.0) as achievement
    from values_wide as w
    cross join config as c
    left join long as l on l.division_code = w.division_code and l.indicator = c.indicator
)

select
    division_code,
    division_name_zh,
    is_unassigned,
    calls,
    indicator,
    indicator_name_zh,
    indicator_name_en,
    round(value, 6)::double as value,
    target,
    weight,
    has_value,
    round(achievement, 6)::double as achievement,
    round(weight * achievement, 4)::double as contribution,
    round(sum(weight * achievement) over (partition by division_code), 4)::double as district_score
from scored
order by division_code, indicator
