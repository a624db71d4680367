"""The simulated day, live (实时回放): every event a shipped policy reads, published onto Kafka in event-time order at
N× real time, for `rules route` / `rules serve` workers and the command board to take as the bureau's live streams.

The events are the ones the batch mode evaluates: the simulated files go through the main job on a home of their
own (ingestion, camera state, the event producers), and the day is read back from that home's silver, so the
stream and `safecity run` see the same events under the same ids (an entity event is named by its subject,
`alarm_received:<call number>`, as the live call-taking system names it) and must fire the same actions. That
home's outbox is the batch answer: its idempotency keys are written beside the files (`batch_actions.txt`) so a
stream's outbox can be compared with it line for line.

One topic with one partition carries the day: the router then reads the events in the order they happened, across
types (an incident's assessment never overtakes its report), and re-keys them per policy partition for the workers.
"""
from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from safecity.config.profiles import Settings

log = logging.getLogger(__name__)
LIVE_TOPIC = "safecity.events.live"
BATCH_ACTIONS = "batch_actions.txt"


@dataclass
class LiveDay:
    """What the replay published and what the batch run of the same day did."""
    events: int
    by_type: dict[str, int]
    batch_actions: int
    batch_keys_file: Path
    topic: str
    stats: str  # what the publisher says of the schedule it kept (how far behind it fell)


def prepare_day(settings: Settings, files: Path) -> None:
    """Run the main job on `settings`' home over the simulated files (copied into its landing)."""
    from safecity.orchestration.main_job import run_main_job

    landing = settings.paths.landing
    if landing.exists() and any(landing.iterdir()):
        raise ValueError(f"{landing} already holds files: the live day needs a landing of its own")
    shutil.copytree(files, landing, dirs_exist_ok=True)
    summary = run_main_job(settings, seed=False)
    if not summary.success:
        raise RuntimeError(f"the main job failed on the simulated day ({', '.join(summary.failed_steps)}): "
                           f"no events to replay")


def day_events(con: Any, catalogue: Any, policies: list) -> Any:
    """The events the policies read, from silver, in event-time order (streamed, re-iterable)."""
    from safecity.rules.events import read_types, silver_events

    return silver_events(con, catalogue, facts=set(), only=read_types(policies))


def batch_keys(con: Any) -> list[str]:
    return sorted(r[0] for r in con.execute("SELECT DISTINCT idempotency_key FROM ops.outbox").fetchall())


class Schedule:
    """Event times for the schedule: a timeless event (a fact of the register) goes out with the timed event before
    it, or, at the start of the day, with the first timed one (held back until it comes)."""

    def __init__(self, events: Any, catalogue: Any):
        self._events, self._catalogue, self._latest = events, catalogue, None

    def __iter__(self) -> Any:
        from safecity.rules.events import event_time

        held = []
        for event in self._events:
            moment = event_time(event, self._catalogue)
            if moment is None and self._latest is None:
                held.append(event)
                continue
            self._latest = moment or self._latest
            yield from held
            held = []
            yield event
        if held:  # a day without a single timed event: nothing to pace them by, they all go out at once
            self._latest = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
            yield from held

    def moment(self, event: Any) -> Any:
        from safecity.rules.events import event_time

        return event_time(event, self._catalogue) or self._latest


def replay_day(settings: Settings, bootstrap: str, speed: float | None, out: Path, topic: str = LIVE_TOPIC,
               progress: Callable[[Any], None] | None = None) -> LiveDay:
    """Publish the day that `settings`' home holds (after the main job) onto `topic` at `speed`× real time (None:
    as fast as the broker takes them); the batch answer is written to `out`/batch_actions.txt first."""
    from safecity.lakehouse.catalog import open_catalog
    from safecity.lakehouse.views import publish_views
    from safecity.lakehouse.warehouse import connect
    from safecity.rules.live_publish import publish_paced
    from safecity.rules.loader import load_policies
    from safecity.rules.streaming import ensure_topics, publish_events
    from safecity.standards.catalogue import load_catalogue

    catalogue = load_catalogue()
    policies = load_policies()
    ensure_topics(bootstrap, [topic], 1)
    with connect(settings) as con:
        publish_views(con, open_catalog(settings), ("silver", "ops"))
        keys = batch_keys(con)
        # Read whole before a replay of minutes or hours: the warehouse is not held meanwhile. The policies' events
        # are a day's calls, incidents, readings and changes (thousands), not its passes, which nobody reads here.
        read = day_events(con, catalogue, policies)
        events = list(read)
    out.mkdir(parents=True, exist_ok=True)
    keys_file = out / BATCH_ACTIONS
    keys_file.write_text("".join(f"{k}\n" for k in keys), encoding="utf-8")
    log.info("live day: publishing %d events onto %s %s (batch fired %d actions)", len(events), topic,
             f"at {speed:g}× real time" if speed else "at full speed", len(keys))
    if speed is None:
        stats = f"published {publish_events(bootstrap, topic, events, 'type'):,} events at full speed"
    else:
        schedule = Schedule(events, catalogue)
        stats = publish_paced(bootstrap, topic, schedule, "type", speed=speed, time_of=schedule.moment,
                              progress=progress).line()
    return LiveDay(len(events), dict(sorted(read.by_type.items())), len(keys), keys_file, topic, stats)
