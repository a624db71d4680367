{#- Masking of sensitive columns on gold. Which columns are sensitive comes from the standards: the silver source's
    column meta (sensitivity, generated from standards/entities) is read from the graph, so a column the standards
    mark sensitive is masked in every view built with masked_select, without a list here. -#}
{% macro sensitive_columns(source_table) -%}
    {%- set found = [] -%}
    {%- if not execute -%}{{ return(found) }}{%- endif -%}
    {%- for node in graph.sources.values() if node.source_name == 'silver' and node.name == source_table -%}
        {%- for column in node.columns.values() if (column.meta or {}).get('sensitivity') in ('sensitive', 'secret') -%}
            {%- do found.append(column.name) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{- return(found) -}}
{%- endmacro %}

{#- A phone number keeps its first 3 and last 4 digits, a plate its province and letter and last character, a name
    its first character; anything else keeps nothing but its length. -#}
{% macro mask_value(column) -%}
    case
        when {{ column }} is null then null
        when regexp_matches({{ column }}::varchar, '^1\d{10}$')
            then left({{ column }}, 3) || '****' || right({{ column }}, 4)
        when regexp_matches({{ column }}::varchar, '^\p{Han}[A-Z][A-Z0-9]{4,6}$')
            then left({{ column }}, 2) || repeat('*', length({{ column }}) - 3) || right({{ column }}, 1)
        when length({{ column }}::varchar) <= 4
            then left({{ column }}, 1) || repeat('*', length({{ column }}) - 1)
        else repeat('*', length({{ column }}::varchar))
    end
{%- endmacro %}

{% macro masked_select(model_name, source_table) -%}
    {%- set sensitive = sensitive_columns(source_table) -%}
    {%- set relation = ref(model_name) -%}
    {%- set columns = adapter.get_columns_in_relation(relation) if execute else [] -%}
    select
    {%- for column in columns %}
        {% if column.name in sensitive -%}
        {{ mask_value(adapter.quote(column.name)) }} as {{ adapter.quote(column.name) }}
        {%- else -%}
        {{ adapter.quote(column.name) }}
        {%- endif %}{{ ',' if not loop.last }}
    {%- endfor %}
    from {{ relation }}
{%- endmacro %}
