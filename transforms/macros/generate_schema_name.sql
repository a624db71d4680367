{#- Layers get their own schema names (staging, marts) instead of dbt's default "<target>_<custom>" prefixing,
    so downstream platforms read stable names such as marts.mart_camera_inventory. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
