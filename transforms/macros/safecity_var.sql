{#- The variables transforms/dbt_vars.py passes on every invocation (divisions, code attributes, scorecard).
    At parse time a placeholder stands in; a run without them stops with a message instead of computing on nothing. -#}
{% macro safecity_var(name) -%}
    {%- set value = var(name, none) -%}
    {%- if value is none and execute -%}
        {{ exceptions.raise_compiler_error("dbt var '" ~ name ~ "' is missing: run dbt through safecity, or pass "
                                           "--vars from safecity.transforms.dbt_vars.dbt_vars(settings)") }}
    {%- endif -%}
    {{- return(value if value is not none else {}) -}}
{%- endmacro %}

{#- The divisions of the city profile as an inline table: division_code, is_urban, area_km2. -#}
{% macro division_facts() -%}
    {%- set rows = safecity_var('divisions') -%}
    (select * from (values
    {%- for d in rows %}
        ('{{ d.code }}', {{ 'true' if d.urban else 'false' }}, {{ d.area_km2 if d.area_km2 is not none else 'null' }}::double){{ ',' if not loop.last }}
    {%- endfor %}
    {%- if not rows %} (null::varchar, null::boolean, null::double) {%- endif %}
    ) as t(division_code, is_urban, area_km2) where division_code is not null)
{%- endmacro %}

{#- Nearest-rank percentile (the value at rank ceil(p·n) of the sorted list): what a person computes by hand,
    and exact on a handful of calls, unlike an interpolating quantile. -#}
{% macro nearest_rank(expression, p) -%}
    quantile_disc({{ expression }}, {{ p }})
{%- endmacro %}
