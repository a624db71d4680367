-- A call's response as NFPA 1710 and the reference CAD systems time it: by its FIRST dispatched unit, its FIRST unit
-- en route and its FIRST unit on scene, whichever rows of the export they are on (taking one row per call, the
-- file's first or any, times an arbitrary unit: longer intervals, a lower share on scene within target). A unit's
-- arrival that a soft check left out (NULL) is not an arrival. Ties go to the lower unit id, so reruns agree.
select
    call_id,
    count(distinct unit_id)::bigint as units_dispatched,
    count(*)::bigint as responses,
    min(dispatched_at) as first_dispatched_at,
    min(enroute_at) as first_enroute_at,
    min(arrived_at) as first_arrived_at,
    (list(unit_id order by dispatched_at, unit_id) filter (where dispatched_at is not null))[1] as first_dispatched_unit,
    (list(unit_id order by arrived_at, unit_id) filter (where arrived_at is not null))[1] as first_arrived_unit
from {{ ref('stg_dispatch__dispatched_units') }}
group by call_id
