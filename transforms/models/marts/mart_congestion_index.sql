-- Congestion per road segment and hour on the GB/T 33171 0–10 scale: the volume-weighted mean speed of the
-- segment's detectors (both directions) graded by the road class's speed thresholds, the index interpolated linearly
-- inside each grade's band (threshold speeds sit exactly on grade boundaries 2, 4, 6, 8; 0 km/h is 10, twice the
-- free-flow threshold or faster is 0), the grade from the congestion_grade code table, and the travel time index
-- (free-flow speed ÷ speed; free flow = the segment's 85th-percentile interval speed). Segment and road class come
-- from the detector registry; a detector the registry does not know (yet) stands for a segment of its own, graded as
-- the `default_road_class` var says, so its flows are not lost. Detectors judged faulty that day are left out.
-- Index and grade are the `congestion_index` / `congestion_grade` macros: the expressions of standards/congestion.py,
-- the same the congestion readings of the junctions (analytics/congestion_events.py) are graded by.
{%- set grades = safecity_var('code_attributes').get('congestion_grade', {}) %}
with flows as (
    select
        f.detector_id,
        f.interval_start,
        f.volume,
        f.mean_speed,
        coalesce(r.road_segment_id, f.detector_id) as road_segment_id,
        coalesce(r.road_class, '{{ var("default_road_class") }}') as road_class,
        coalesce(r.division_code, f.division_code) as division_code
    from {{ ref('stg_detectors__flows') }} as f
    join {{ ref('fct_detector_daily_health') }} as h
        on h.detector_id = f.detector_id and h.flow_date = f.interval_start::date and h.verdict <> 'faulty'
    left join {{ ref('stg_traffic_platform__detectors') }} as r on r.detector_id = f.detector_id
),

free_flow as (
    select road_segment_id, quantile_disc(mean_speed, 0.85) as free_flow_speed
    from flows
    where volume > 0 and mean_speed > 0
    group by road_segment_id
),

hourly as (
    select
        road_segment_id,
        -- A segment has one class and one division; should the registry disagree, the smallest code wins, so that a
        -- rebuild gives the same rows.
        min(division_code) as division_code,
        min(road_class) as road_class,
        date_trunc('hour', interval_start) as hour_start,
        count(distinct detector_id)::bigint as detectors,
        sum(volume)::bigint as volume,
        sum(volume * mean_speed) filter (where volume > 0) / nullif(sum(volume) filter (where volume > 0), 0) as speed
    from flows
    group by road_segment_id, date_trunc('hour', interval_start)
),

grade_ranks as (
    select * from (values
    {%- for code, a in grades.items() %}
        ('{{ code }}', {{ a.rank }}){{ ',' if not loop.last }}
    {%- endfor %}
    ) as t(grade, grade_rank)
),

indexed as (
    select
        h.*,
        f.free_flow_speed,
        {{ congestion_index('h.speed', 'h.road_class') }} as congestion_index
    from hourly as h
    left join free_flow as f using (road_segment_id)
),

graded as (
    select *, {{ congestion_grade('congestion_index') }} as grade from indexed
)

select
    i.road_segment_id,
    i.division_code,
    i.road_class,
    i.hour_start,
    i.detectors,
    hour(i.hour_start) in ({{ var('peak_hours') | join(', ') }}) as is_peak_hour,
    month(i.hour_start) in ({{ var('tourist_season_months') | join(', ') }}) as is_tourist_season,
    i.volume,
    round(i.speed, 2)::double as mean_speed,
    i.free_flow_speed::double as free_flow_speed,
    round(i.free_flow_speed / nullif(i.speed, 0), 4)::double as travel_time_index,
    round(i.congestion_index, 4)::double as congestion_index,
    i.grade,
    g.grade_rank::integer as grade_rank
from graded as i
left join grade_ranks as g using (grade)
order by road_segment_id, hour_start
