-- Cases: every export of a case is a version (its status moves on); the latest wins.
with ranked as (
    select
        *,
        row_number() over (
            partition by case_id
            order by _ingested_at desc, _batch_id desc, _line desc
        ) as recency_rank
    from {{ source('silver', 'case') }}
)

select
    case_id,
    case_type,
    category,
    filed_at,
    status,
    solved_at,
    closed_at,
    division_code,
    handling_unit,
    related_call_id,
    loss_amount,
    _batch_id as batch_id
from ranked
where recency_rank = 1
