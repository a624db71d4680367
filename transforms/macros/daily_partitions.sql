{#- Daily partitions (orchestration/defs/partitions.py): the Dagster step of the daily models passes the run's days in
    the environment, SAFECITY_DAY_FROM (first day) and SAFECITY_DAY_TO (the day after the last), local dates in the
    session's zone. Environment variables, not vars: dbt parses the whole project again whenever --vars change
    (its partial parse keys on them), while these, read when the models run, need no parse at all.
    A build without them (dbt on its own, the CI's dbt tests) takes every day. -#}

{% macro partition_days_given() -%}
    {{ return(env_var('SAFECITY_DAY_FROM', '') != '') }}
{%- endmacro %}

{% macro in_partition_days(time_column) -%}
    {{ time_column }} >= cast('{{ env_var("SAFECITY_DAY_FROM") }}' as timestamptz)
    and {{ time_column }} < cast('{{ env_var("SAFECITY_DAY_TO") }}' as timestamptz)
{%- endmacro %}
