"""Daily partitions (按日分区) of the high-volume facts: the entities the standards mark `partition: day` (vehicle
passes, detector flows, device keepalives) and the dbt models built from them one day at a time.

A partition is a delivery day in the city's zone: the files the bureau's systems deliver for that day (the day is in
their names, see safecity.ingestion.landing.delivery_day) and, for the dbt facts, the records whose event time falls
on it. Backfills run as one run over the whole range (BackfillPolicy.single_run): ingestion lists the range's files
once and dbt rebuilds the range in one statement per model, instead of paying Dagster's and dbt's start-up per day.

Every city of the platform keeps Beijing time (GB/T 2260 covers China only), so one definition serves every city
profile; build_definitions refuses a profile whose zone differs rather than partitioning its days wrongly.
"""

import datetime as dt
import zoneinfo

import dagster as dg

ZONE = "Asia/Shanghai"
# The first day the platform keeps history for; earlier deliveries are archives, not partitions.
FIRST_DAY = "2024-01-01"

# end_offset=1: today is a partition too, so that five-minute stream batches and new files land in it as they come.
DAILY = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone=ZONE, end_offset=1)
SINGLE_RUN = dg.BackfillPolicy.single_run()


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
    return day_key(moment.astimezone(zoneinfo.ZoneInfo(ZONE)).date() - dt.timedelta(days=days_back))


def check_zone(timezone: str) -> None:
    if timezone != ZONE:
        raise ValueError(f"city profile time zone {timezone!r}: daily partitions are days in {ZONE}; a city in "
                         f"another zone needs its own partitions definition")
