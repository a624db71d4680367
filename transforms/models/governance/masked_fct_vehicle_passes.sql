{{ config(alias='fct_vehicle_passes') }}
-- depends_on: {{ ref('fct_vehicle_passes') }}
{{ masked_select('fct_vehicle_passes', 'vehicle_pass') }}
