-- The units each call sent, one row per unit and response (派车记录): a CAD export with several rows per call. A time
-- a soft check left out (an arrival before the unit's own dispatch) is NULL here and counts as no arrival.
select
    call_id,
    unit_id,
    response_no,
    dispatched_at,
    enroute_at,
    arrived_at,
    cleared_at,
    _batch_id as batch_id,
    _ingested_at as ingested_at
from {{ source('silver', 'dispatched_unit') }}
