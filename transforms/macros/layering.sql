{#- The latest version of each record of an `updates: true` silver table (every export of a registry entry, a call
    or a case is a version): the row ingested last, ties broken by batch and line. -#}
{% macro latest_versions(relation, key) -%}
    (
        select * exclude (recency_rank)
        from (
            select
                *,
                row_number() over (
                    partition by {{ key }}
                    order by _ingested_at desc, _batch_id desc, _line desc
                ) as recency_rank
            from {{ relation }}
        )
        where recency_rank = 1
    )
{%- endmacro %}

{#- The three police levels of a row as columns: its station (派出所, a 12-digit police organisation code:
    division + station number + 0000), its branch (分局, the division) and the city (市局). A row without a station
    belongs to its branch directly, shown as the branch's own unit <division>000000. -#}
{#- The city code is read with a literal var name (after safecity_var's check): SQLMesh's review passes a model only
    the vars it finds by name, and it cannot see through a macro's var(name). -#}
{#- A record without a station or a division code lands in the "unassigned" bucket of that level (counted, and
    warned about by the `assigned` test) instead of a NULL that would fail the fact's not-null tests. -#}
{% macro unassigned_code() -%}'unassigned'{%- endmacro %}

{% macro police_levels(station, division) -%}
    {%- do safecity_var('city_code') -%}
    coalesce({{ station }}, {{ division }} || '000000', {{ unassigned_code() }}) as station_code,
    coalesce(substr({{ station }}, 1, 6), {{ division }}, {{ unassigned_code() }}) as branch_code,
    '{{ var("city_code", "") }}' as city_code
{%- endmacro %}

{#- Rows repeated at the three police levels: city (市局, parent none), branch (分局, parent the city) and station
    (派出所, parent its branch); `relation` carries city_code, branch_code and station_code. A level's rows cover the
    levels below it. -#}
{% macro three_levels(relation) -%}
    (
        select 'city' as level, city_code as unit_code, null::varchar as parent_code, * from {{ relation }}
        union all
        select 'branch', branch_code, city_code, * from {{ relation }}
        union all
        select 'station', station_code, branch_code, * from {{ relation }}
    )
{%- endmacro %}
