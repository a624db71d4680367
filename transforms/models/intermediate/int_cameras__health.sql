-- Each registered camera with what the KPIs count: in the denominator, online, intact (online without a blocking
-- quality fault), HD (a snapshot at least 1280×720), networked (keepalives reach the platform); and its police
-- levels: the station is the basic access unit (基层接入单位, digits 7–8 of the GB/T 28181 ID) as a police
-- organisation code, division + unit + 0000; unit 00 is the branch's own access (no station).
{%- set states = safecity_var('code_attributes').get('camera_state', {}) %}
{%- set installs = safecity_var('code_attributes').get('camera_install_status', {}) %}
{%- set not_in_service = [] %}
{%- for code, a in installs.items() if not a.in_service %}{% do not_in_service.append("'" ~ code ~ "'") %}{% endfor %}
with cameras as (
    -- Cameras only (GB/T 28181 types 131 camera, 132 IPC): recorders and platforms have no picture to judge.
    select * from {{ ref('stg_video_platform__cameras') }} where type_code in ('131', '132')
),

states as (
    select * from {{ ref('stg_camera_health__camera_states') }}
),

pictures as (
    select device_id, max(width) as max_width, max(height) as max_height
    from {{ ref('stg_camera_health__snapshot_diagnosis') }}
    group by device_id
),

keepalives as (
    select device_id, max(reported_at) as last_keepalive_at, count(*) as keepalives
    from {{ ref('stg_gb28181__device_status') }}
    group by device_id
),

state_attributes as (
    select * from (values
    {%- for code, a in states.items() %}
        ('{{ code }}', {{ a.in_denominator }} = 1, {{ a.online }} = 1, {{ a.intact }} = 1){{ ',' if not loop.last }}
    {%- endfor %}
    ) as t(state, in_denominator, counts_online, counts_intact)
),

joined as (
    select
        c.device_id,
        c.division_code,
        c.type_code,
        c.name,
        c.address,
        c.longitude,
        c.latitude,
        c.is_key_point,
        c.status as catalog_status,
        c.install_status,
        -- 建档: the catalog attributes a point needs (name, address, position, position type) are all there.
        c.name is not null and c.address is not null and c.longitude is not null and c.latitude is not null
            and c.position_type is not null as is_documented,
        -- A camera the registry has as planned, removed or void is not in service, whatever else is known of it;
        -- without a health verdict (no stream check yet) the catalog status decides online/offline.
        case
            {%- if not_in_service %}
            when c.install_status in ({{ not_in_service | join(', ') }}) then 'not_in_service'
            {%- endif %}
            else coalesce(s.state, case when c.is_online then 'online' else 'offline' end)
        end as state,
        s.state is not null as has_health_state,
        s.reason,
        s.fault_type,
        s.since as state_since,
        s.as_of as state_as_of,
        p.max_width,
        p.max_height,
        k.keepalives,
        k.last_keepalive_at
    from cameras as c
    left join states as s using (device_id)
    left join pictures as p using (device_id)
    left join keepalives as k using (device_id)
)

select
    j.*,
    a.in_denominator,
    a.counts_online as is_online,
    a.counts_intact as is_intact,
    case when j.max_width is null then null
         else j.max_width >= 1280 and j.max_height >= 720 end as is_hd,
    coalesce(j.keepalives, 0) > 0 as is_networked,
    {{ police_levels("case when substr(j.device_id, 7, 2) <> '00' then substr(j.device_id, 1, 8) || '0000' end",
                     'j.division_code') }}
from joined as j
join state_attributes as a using (state)
