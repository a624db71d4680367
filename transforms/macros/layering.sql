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
