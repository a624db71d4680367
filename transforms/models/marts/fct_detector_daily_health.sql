-- A daily verdict (ok / suspect / faulty) per detector with its reason (detector_fault_reason): feed down
-- (no_data, faulty), stuck (constant_value), all zeros (zero_volume), impossible occupancy (occupancy_out_of_range),
-- intermittent (no_data, suspect). The first reason that applies, in that order, is the one reported.
-- In daily partitions (tag daily): a partition run judges its days again, every day that got flows since the last
-- build (a late delivery of an earlier day) and every detector-day without a verdict yet (a detector first seen
-- today was silent on the days before), and replaces their verdicts; a build without days does the latter two. So a
-- backfill day by day ends where a backfill in one run does.
{{ config(materialized='incremental', unique_key=['detector_id', 'flow_date'], incremental_strategy='delete+insert',
          on_schema_change='fail', tags=['daily']) }}
with all_signals as (
    select * from {{ ref('int_detectors__daily_signals') }}
),

signals as (
    select * from all_signals as s
    {% if is_incremental() %}
    where s.flow_date in (
        select flow_date from all_signals group by flow_date
        having max(ingested_through) > (select coalesce(max(ingested_through), '-infinity'::timestamptz) from {{ this }}))
    -- a detector first seen later is known on earlier days too (silent then: feed down)
    or not exists (select 1 from {{ this }} as t where t.detector_id = s.detector_id and t.flow_date = s.flow_date)
    {% if partition_days_given() %} or {{ in_partition_days('s.flow_date') }}{% endif %}
    {% endif %}
),

judged as (
    select
        *,
        case
            when intervals_reported = 0 then 'no_data'
            when volume > 0 and distinct_lane_values = lanes then 'constant_value'
            when volume = 0 then 'zero_volume'
            when occupancy_over_100 + occupancy_zero_with_traffic >= {{ var('detector_bad_occupancy_intervals') }}
                then 'occupancy_out_of_range'
            when intervals_reported < {{ var('detector_min_reported_share') }} * intervals_expected then 'no_data'
        end as reason
    from signals
)

select
    detector_id,
    division_code,
    flow_date,
    case when reason is null then 'ok'
         when reason = 'no_data' and intervals_reported > 0 then 'suspect'
         else 'faulty' end as verdict,
    reason,
    intervals_expected,
    intervals_reported,
    rows_reported,
    volume,
    occupancy_over_100,
    occupancy_zero_with_traffic,
    ingested_through
from judged
order by flow_date, detector_id
