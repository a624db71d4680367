{{ config(alias='fct_alarm_calls') }}
-- depends_on: {{ ref('fct_alarm_calls') }}
{{ masked_select('fct_alarm_calls', 'alarm_call') }}
