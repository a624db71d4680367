-- A daily verdict (ok / suspect / faulty) per detector with its reason (detector_fault_reason): feed down
-- (no_data, faulty), stuck (constant_value), all zeros (zero_volume), impossible occupancy (occupancy_out_of_range),
-- intermittent (no_data, suspect). The first reason that applies, in that order, is the one reported.
-- In daily partitions (tag daily): a partition run judges its days again and replaces their verdicts.
{{ config(materialized='incremental', unique_key=['detector_id', 'flow_date'], incremental_strategy='delete+insert',
          on_schema_change='fail', tags=['daily']) }}
with signals as (
    select * from {{ ref('int_detectors__daily_signals') }}
    {% if is_incremental() and partition_days_given() %}
    where {{ in_partition_days('flow_date') }}
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
    occupancy_zero_with_traffic
from judged
order by flow_date, detector_id
