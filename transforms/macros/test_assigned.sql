{#- Records in the "unassigned" bucket of a police level (no station or division code): a warning check, never a
    failure of the run (declare it with severity: warn). -#}
{% test assigned(model, column_name) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} = {{ unassigned_code() }}
{% endtest %}
