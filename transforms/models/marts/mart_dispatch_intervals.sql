-- Dispatch-chain intervals per day at three levels (city 市局, branch 分局, station 派出所): median and 90th
-- percentile (nearest rank) of received→dispatched, dispatched→arrived and received→arrived, and the share of calls
-- arriving within their area's target (urban 5 min, suburban 10 min). Each level's row covers the levels below it.
-- A call with exported units is timed by its first dispatched, first en route and first arriving unit (NFPA 1710);
-- turnout (dispatched → en route) exists only for such calls.
with calls as (
    select * from {{ ref('int_alarm_calls__dispatch_chain') }}
),

levels as (
    select * from {{ three_levels('calls') }}
)

select
    level,
    unit_code,
    parent_code,
    received_date,
    count(*)::bigint as calls,
    count(received_to_arrived_s)::bigint as arrived_calls,
    {{ nearest_rank('received_to_dispatched_s', 0.5) }}::bigint as received_to_dispatched_p50_s,
    {{ nearest_rank('received_to_dispatched_s', 0.9) }}::bigint as received_to_dispatched_p90_s,
    {{ nearest_rank('dispatched_to_enroute_s', 0.5) }}::bigint as dispatched_to_enroute_p50_s,
    {{ nearest_rank('dispatched_to_enroute_s', 0.9) }}::bigint as dispatched_to_enroute_p90_s,
    {{ nearest_rank('dispatched_to_arrived_s', 0.5) }}::bigint as dispatched_to_arrived_p50_s,
    {{ nearest_rank('dispatched_to_arrived_s', 0.9) }}::bigint as dispatched_to_arrived_p90_s,
    {{ nearest_rank('received_to_arrived_s', 0.5) }}::bigint as received_to_arrived_p50_s,
    {{ nearest_rank('received_to_arrived_s', 0.9) }}::bigint as received_to_arrived_p90_s,
    count(*) filter (where is_urban and received_to_arrived_s is not null)::bigint as urban_arrived,
    count(*) filter (where is_urban and arrived_within_target)::bigint as urban_within_5min,
    count(*) filter (where not is_urban and received_to_arrived_s is not null)::bigint as suburban_arrived,
    count(*) filter (where not is_urban and arrived_within_target)::bigint as suburban_within_10min,
    (count(*) filter (where is_urban and arrived_within_target)
        / nullif(count(*) filter (where is_urban and received_to_arrived_s is not null), 0))::double
        as urban_within_5min_share,
    (count(*) filter (where not is_urban and arrived_within_target)
        / nullif(count(*) filter (where not is_urban and received_to_arrived_s is not null), 0))::double
        as suburban_within_10min_share,
    (count(*) filter (where arrived_within_target)
        / nullif(count(received_to_arrived_s), 0))::double as within_target_share
from levels
group by all
order by level, unit_code, received_date
