-- Per detector and local day, the signals the health verdict reads: intervals reported, all-zero days, values that
-- never change, implausible occupancy. Detectors known = every detector of the registry (from the day it was
-- installed) and every detector seen in silver's flows on any day, so a feed down all day is a verdict, not a gap.
-- A day has as many intervals as the detector's interval length gives (288 at 5 minutes, 24 at one hour): the length
-- is the one the detector reported that day, else the one it usually reports, else the project default.
-- A view in the daily partitions' step (tag daily), so that the daily models' step reads nothing built by another.
{{ config(tags=['daily']) }}
with flows as (
    select *, interval_start::date as flow_date from {{ ref('stg_detectors__flows') }}
),

registered as (
    select detector_id, division_code, installed_at::date as installed_on from {{ ref('stg_traffic_platform__detectors') }}
),

known as (
    select detector_id, any_value(division_code) as division_code, min(installed_on) as installed_on from (
        select detector_id, division_code, installed_on from registered
        union all
        select detector_id, division_code, null as installed_on from flows
    ) group by detector_id
),

days as (
    select distinct flow_date from flows
),

usual_interval as (
    select detector_id, mode(interval_minutes) as interval_minutes from flows group by detector_id
),

per_day as (
    select
        detector_id,
        flow_date,
        count(distinct interval_start) as intervals_reported,
        mode(interval_minutes) as interval_minutes,
        count(distinct lane_no) as lanes,
        count(*) as rows_reported,
        sum(volume) as volume,
        count(distinct (lane_no, volume, occupancy, mean_speed)) as distinct_lane_values,
        count(*) filter (where occupancy > 100) as occupancy_over_100,
        count(*) filter (where volume > 0 and occupancy = 0) as occupancy_zero_with_traffic,
        max(ingested_at) as ingested_through
    from flows
    group by detector_id, flow_date
)

select
    k.detector_id,
    k.division_code,
    d.flow_date,
    cast((24 * 60) // coalesce(p.interval_minutes, u.interval_minutes, {{ var('detector_interval_minutes') }})
        as integer) as intervals_expected,
    coalesce(p.intervals_reported, 0) as intervals_reported,
    coalesce(p.rows_reported, 0) as rows_reported,
    p.lanes,
    p.volume,
    p.distinct_lane_values,
    coalesce(p.occupancy_over_100, 0) as occupancy_over_100,
    coalesce(p.occupancy_zero_with_traffic, 0) as occupancy_zero_with_traffic,
    p.ingested_through
from known as k
cross join days as d
left join per_day as p on p.detector_id = k.detector_id and p.flow_date = d.flow_date
left join usual_interval as u on u.detector_id = k.detector_id
-- not judged before it was installed, unless it reported anyway
where k.installed_on is null or k.installed_on <= d.flow_date or p.detector_id is not null
