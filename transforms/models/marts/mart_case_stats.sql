-- Cases per filing day, level (city 市局 / branch 分局 / station 派出所) and category: filed, solved (破案) and
-- closed, and the clearance rate (solved ÷ filed). Each level's rows cover the levels below it.
with cases as (
    select
        *,
        filed_at::date as filed_date,
        solved_at is not null or status in ('solved', 'closed') as is_solved,
        {{ police_levels('handling_unit', 'division_code') }}
    from {{ ref('stg_cases__cases') }}
),

levels as (
    select * from {{ three_levels('cases') }}
)

select
    level,
    unit_code,
    parent_code,
    filed_date,
    case_type,
    category,
    count(*)::bigint as cases_filed,
    count(*) filter (where is_solved)::bigint as cases_solved,
    count(*) filter (where closed_at is not null or status = 'closed')::bigint as cases_closed,
    (count(*) filter (where is_solved) / count(*))::double as clearance_rate
from levels
group by all
order by level, unit_code, filed_date, case_type, category
