-- Congestion per road segment and hour on the GB/T 33171 0–10 scale: the volume-weighted mean speed of the
-- segment's detectors (both directions) graded by the road class's speed thresholds, the index interpolated linearly
-- inside each grade's band (threshold speeds sit exactly on grade boundaries 2, 4, 6, 8; 0 km/h is 10, twice the
-- free-flow threshold or faster is 0), the grade from the congestion_grade code table, and the travel time index
-- (free-flow speed ÷ speed; free flow = the segment's 85th-percentile interval speed). Segment and road class come
-- from the detector registry; a detector the registry does not know (yet) stands for a segment of its own, graded as
-- the `default_road_class` var says, so its flows are not lost. Detectors judged faulty that day are left out.
{%- set classes = safecity_var('code_attributes').get('road_class', {}) %}
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

thresholds as (
    select * from (values
    {%- for code, a in classes.items() %}
        ('{{ code }}', {{ a.speed_free_flow_gt }}::double, {{ a.speed_mostly_free_gt }}::double,
         {{ a.speed_light_gt }}::double, {{ a.speed_moderate_gt }}::double){{ ',' if not loop.last }}
    {%- endfor %}
    ) as t(road_class, t1, t2, t3, t4)
),

grade_bands as (
    select * from (values
    {%- for code, a in grades.items() %}
        ('{{ code }}', {{ a.rank }}, {{ a.min_index }}::double, {{ a.max_index }}::double){{ ',' if not loop.last }}
    {%- endfor %}
    ) as t(grade, grade_rank, min_index, max_index)
),

indexed as (
    select
        h.*,
        f.free_flow_speed,
        case
            when h.speed is null then null
            when h.speed >= 2 * t.t1 then 0.0
            when h.speed > t.t1 then 2 * (2 * t.t1 - h.speed) / t.t1
            when h.speed > t.t2 then 2 + 2 * (t.t1 - h.speed) / (t.t1 - t.t2)
            when h.speed > t.t3 then 4 + 2 * (t.t2 - h.speed) / (t.t2 - t.t3)
            when h.speed > t.t4 then 6 + 2 * (t.t3 - h.speed) / (t.t3 - t.t4)
            else 8 + 2 * (t.t4 - greatest(h.speed, 0)) / t.t4
        end as congestion_index
    from hourly as h
    join thresholds as t using (road_class)
    left join free_flow as f using (road_segment_id)
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
    g.grade,
    g.grade_rank::integer as grade_rank
from indexed as i
left join grade_bands as g
    on i.congestion_index >= g.min_index
   and (i.congestion_index < g.max_index or (g.max_index = 10 and i.congestion_index <= 10))
order by road_segment_id, hour_start
