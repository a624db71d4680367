-- Cases: every export of a case is a version (its status moves on); the latest wins.
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
from {{ latest_versions(source('silver', 'case'), 'case_id') }}
