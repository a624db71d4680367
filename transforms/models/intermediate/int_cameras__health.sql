-- Each registered camera with what the KPIs count: in the denominator, online, intact (online without a blocking
-- quality fault), HD (a snapshot at least 1280×720), networked (联网: keepalives reach the platform AND, where the
-- site has a network registry, the camera's access path reaches the city core in it: int_cameras__network_path;
-- a site without network links counts keepalives alone), the share of the telemetry's span its path was up, and
-- whether its current offline stay is the network's (silver.camera_outage_cause: a link or node); and its police
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

network_paths as (
    select * from {{ ref('int_cameras__network_path') }}
),

has_network as (
    select count(*) > 0 as site_has_network from {{ ref('stg_network__links') }}
),

-- The cause of each camera's open offline stay (until null): the stay its current offline state is in.
open_outages as (
    select camera_id as device_id, any_value(cause_element_type) as outage_cause
    from {{ ref('stg_network_health__camera_outage_causes') }}
    where until is null
    group by camera_id
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
        k.last_keepalive_at,
        coalesce(n.has_network_path, false) as has_network_path,
        n.path_up_share,
        o.outage_cause,
        h.site_has_network
    from cameras as c
    left join states as s using (device_id)
    left join pictures as p using (device_id)
    left join keepalives as k using (device_id)
    left join network_paths as n using (device_id)
    left join open_outages as o using (device_id)
    cross join has_network as h
)

select
    j.*,
    a.in_denominator,
    a.counts_online as is_online,
    a.counts_intact as is_intact,
    case when j.max_width is null then null
         else j.max_width >= 1280 and j.max_height >= 720 end as is_hd,
    coalesce(j.keepalives, 0) > 0 and (not j.site_has_network or j.has_network_path) as is_networked,
    -- Offline now because a link or node above it is down, or for its own (camera / NVR) fault.
    a.in_denominator and not a.counts_online and j.outage_cause in ('link', 'node') as is_offline_by_network,
    a.in_denominator and not a.counts_online and j.outage_cause is distinct from 'link'
        and j.outage_cause is distinct from 'node' as is_offline_by_device,
    {{ police_levels("case when substr(j.device_id, 7, 2) <> '00' then substr(j.device_id, 1, 8) || '0000' end",
                     'j.division_code') }}
from joined as j
join state_attributes as a using (state)
