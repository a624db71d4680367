{#- Daily partitions (orchestration/defs/partitions.py): the Dagster step of the daily models passes the run's days as
    vars `day_from` (first day) and `day_to` (the day after the last), local dates in the session's zone. A build
    without them (dbt on its own, the CI's dbt tests) takes every day. -#}

{% macro partition_days_given() -%}
    {{ return(var('day_from', none) is not none) }}
{%- endmacro %}

{% macro in_partition_days(time_column) -%}
    {{ time_column }} >= cast('{{ var("day_from") }}' as timestamptz)
    and {{ time_column }} < cast('{{ var("day_to") }}' as timestamptz)
{%- endmacro %}
