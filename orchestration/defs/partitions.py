"""Daily partitions (按日分区) of the high-volume facts: the entities the standards mark `partition: day` (vehicle
passes, detector flows, device keepalives) and the dbt models built from them one day at a time.

A partition is a delivery day in the city's zone: the files the bureau's systems deliver for that day (the day is in
their names, see safecity.ingestion.landing.delivery_day) and, for the dbt facts, the records whose event time falls
on it. Backfills run as one run over the whole range (BackfillPolicy.single_run): ingestion lists the range's files
once and dbt rebuilds the range in one statement per model, instead of paying Dagster's and dbt's start-up per day.

The days are the site's city's (its profile's time zone), as are the schedules' clocks: a site in Edinburgh
partitions by days in Europe/London.
"""

import datetime as dt
import functools
import zoneinfo

import dagster as dg

from safecity.config.profiles import load_city
from safecity.config.site import current_site

# The first day the platform keeps history for; earlier deliveries are archives, not partitions.
FIRST_DAY = "2024-01-01"
SINGLE_RUN = dg.BackfillPolicy.single_run()


@functools.cache
def _city_zone(site_root, city: str) -> str:
    return load_city(city).timezone


def site_zone() -> str:
    """The IANA zone of the current site's city: the zone of partitions and schedules."""
    site = current_site()
    return _city_zone(site.root, site.city)


@functools.cache
def _daily(zone: str) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today is a partition too, so that five-minute stream batches and new files land in it as they
    # come.
    return dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone=zone, end_offset=1)


def daily() -> dg.DailyPartitionsDefinition:
    """The daily partitions of the current site (one object per zone, so that assets of one site share it)."""
    return _daily(site_zone())


def partitioned_assets(definitions: dg.Definitions) -> list[dg.AssetsDefinition]:
    """The code location's assets in daily partitions (the others are unpartitioned)."""
    return [asset for asset in definitions.assets
            if isinstance(asset, dg.AssetsDefinition) and asset.partitions_def is not None]


def partition_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The local days of the run's partition or partition range, in order."""
    window = context.partition_time_window
    first, last = window.start.date(), window.end.date()
    return [first + dt.timedelta(days=n) for n in range((last - first).days)]


def day_key(day: dt.date) -> str:
    return day.isoformat()


def local_day(moment: dt.datetime, days_back: int = 0) -> str:
    """The partition key of the day of `moment` in the partitions' zone, `days_back` days earlier."""
    return day_key(moment.astimezone(zoneinfo.ZoneInfo(site_zone())).date() - dt.timedelta(days=days_back))
