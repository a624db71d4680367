-- 110 call volumes by day, hour, district and category.
select
    c.received_date,
    c.received_hour,
    c.division_code,
    c.category,
    k.name_zh as category_name_zh,
    k.name_en as category_name_en,
    count(*)::bigint as calls
from {{ ref('int_alarm_calls__dispatch_chain') }} as c
left join {{ source('reference', 'code_values') }} as k
    on k.table_id = 'incident_category_110' and k.code = c.category
group by all
order by all
