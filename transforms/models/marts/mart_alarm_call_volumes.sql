-- 110 call volumes by day, hour and category at the three police levels (city 市局, branch 分局 = district,
-- station 派出所 = handling unit); each level's rows cover the levels below it.
with calls as (
    select * from {{ ref('int_alarm_calls__dispatch_chain') }}
)

select
    c.level,
    c.unit_code,
    c.parent_code,
    c.received_date,
    c.received_hour,
    c.category,
    k.name_zh as category_name_zh,
    k.name_en as category_name_en,
    count(*)::bigint as calls
from {{ three_levels('calls') }} as c
left join {{ source('reference', 'code_values') }} as k
    on k.table_id = 'incident_category_110' and k.code = c.category
group by all
order by all
