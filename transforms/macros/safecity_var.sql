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

{#- Rows of a var (a list of mappings) as an inline table: `columns` is a list of (key, SQL type) pairs. Text is
    quoted with its quotes doubled, so a name from a config file cannot end the literal. Without rows (parse time)
    the table is empty but typed. -#}
{% macro values_table(rows, columns) -%}
    (select * from (values
    {%- for row in rows %}
        ({%- for key, type in columns -%}
            {%- set value = row[key] -%}
            {%- if value is none -%}null
            {%- elif value is sameas true or value is sameas false -%}{{ 'true' if value else 'false' }}
            {%- elif value is number -%}{{ value }}
            {%- else -%}'{{ value | replace("'", "''") }}'
            {%- endif -%}::{{ type }}{{ ', ' if not loop.last }}
        {%- endfor -%}){{ ',' if not loop.last }}
    {%- endfor %}
    {%- if not rows %} ({% for key, type in columns %}null::{{ type }}{{ ', ' if not loop.last }}{% endfor %}) {%- endif %}
    ) as t({% for key, type in columns %}{{ key }}{{ ', ' if not loop.last }}{% endfor %})
    {%- if not rows %} where false{% endif %})
{%- endmacro %}

{#- The divisions of the city profile as an inline table: division_code, is_urban, area_km2. -#}
{% macro division_facts() -%}
    (select code as division_code, urban as is_urban, area_km2
     from {{ values_table(safecity_var('divisions'), [('code', 'varchar'), ('urban', 'boolean'), ('area_km2', 'double')]) }})
{%- endmacro %}

{#- The city's key places (config/cities/<city>/key_places.yaml) as an inline table. -#}
{% macro key_place_facts() -%}
    {{ values_table(safecity_var('key_places'), [('id', 'varchar'), ('name_zh', 'varchar'), ('name_en', 'varchar'),
                                                ('kind', 'varchar'), ('division', 'varchar'), ('lon', 'double'),
                                                ('lat', 'double'), ('radius_m', 'double')]) }}
{%- endmacro %}

{#- The city grid's cell id (config/grid.py, e.g. G071123) of a position, NULL outside the city's extent. The
    expression comes rendered from config/grid.py through dbt_vars, so this macro only substitutes the columns. -#}
{% macro grid_cell(lon, lat) -%}
    {{ (safecity_var('grid_cell_sql') or 'null::varchar') | replace('__lon__', '(' ~ lon ~ ')') | replace('__lat__', '(' ~ lat ~ ')') }}
{%- endmacro %}

{#- Nearest-rank percentile (the value at rank ceil(p·n) of the sorted list): what a person computes by hand,
    and exact on a handful of calls, unlike an interpolating quantile. -#}
{% macro nearest_rank(expression, p) -%}
    quantile_disc({{ expression }}, {{ p }})
{%- endmacro %}

{#- GB/T 33171's traffic performance index (0–10) of a speed on a road class, and the congestion grade of an index.
    The expressions come rendered from standards/congestion.py through dbt_vars (the congestion readings' producer
    renders the same), so these macros only substitute the columns. -#}
{% macro congestion_index(speed, road_class) -%}
    {{ (safecity_var('congestion_index_sql') or 'null::double') | replace('__speed__', '(' ~ speed ~ ')') | replace('__road_class__', '(' ~ road_class ~ ')') }}
{%- endmacro %}

{% macro congestion_grade(index) -%}
    {{ (safecity_var('congestion_grade_sql') or 'null::varchar') | replace('__index__', '(' ~ index ~ ')') }}
{%- endmacro %}
