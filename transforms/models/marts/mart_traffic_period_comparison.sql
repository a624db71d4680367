-- Peak hours against the rest of the day, in and out of the tourist season, per district: hourly volume per
-- segment, speed, travel time index and congestion index, and the share of congested hours (moderate or severe).
select
    division_code,
    is_tourist_season,
    is_peak_hour,
    count(distinct road_segment_id)::bigint as segments,
    count(*)::bigint as segment_hours,
    round(avg(volume), 2)::double as mean_hourly_volume,
    round(avg(mean_speed), 2)::double as mean_speed,
    round(avg(travel_time_index), 4)::double as mean_travel_time_index,
    round(avg(congestion_index), 4)::double as mean_congestion_index,
    (count(*) filter (where grade_rank >= 4) / count(*))::double as congested_share
from {{ ref('mart_congestion_index') }}
where congestion_index is not null
group by all
order by all
