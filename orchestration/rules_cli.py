"""`safecity rules …`: the commands policy staff use to change a policy safely (check, test, replay, diff) and the
commands that run the engine (serve, deliver, dead-letter)."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import typer

from safecity.config.yamlfile import Located, YamlFileError
from safecity.rules.alignment import MAX_WAIT_S
from safecity.orchestration.cli_options import EnvOption, HomeOption, SiteOption, settings_or_exit as _settings

rules_app = typer.Typer(help="策略文件与规则引擎 / Policy files and the rule engine: check, test, replay, diff, serve.",
                        no_args_is_help=True)

PathArgument = typer.Argument(None, help="Policy file or folder (default: the site's policies: its enabled packs "
                                         "and its own).")


def problem_record(problem: Located) -> dict:
    """One error as JSON: the text fields of `file:line: CODE at /pointer: message` plus the message split into its
    Chinese and English halves, for a UI or CI."""
    zh, _, en = problem.message.partition(" / ")
    return {**problem.as_dict(), "message_zh": zh if en else None, "message_en": en or problem.message}


def _load(path: Path | None, as_json: bool = False):
    from safecity.config.site import current_site
    from safecity.rules.loader import load_policies, site_policies
    try:
        # The live set: the site's enabled packs and its own policies.
        return load_policies(path) if path else site_policies(current_site())
    except YamlFileError as exc:
        typer.echo(json.dumps([problem_record(p) for p in exc.problems], ensure_ascii=False, indent=2) if as_json
                   else str(exc))
        raise typer.Exit(1) from None


@rules_app.command("check")
def rules_check(path: Path = PathArgument, as_json: bool = typer.Option(False, "--json"),
                site: Path | None = SiteOption) -> None:
    """检查策略文件 / Validate policy files; every error as file:line: CODE at /pointer: message."""
    policies = _load(path, as_json)
    typer.echo(json.dumps([], ensure_ascii=False) if as_json else f"{len(policies)} policies OK")


@rules_app.command("explain")
def rules_explain(path: Path = typer.Argument(..., help="Policy file.")) -> None:
    """用中文和英文白话说明一条策略 / Print a policy as plain Chinese, then English, sentences."""
    from safecity.rules.explain import explain_text
    from safecity.rules.loader import load_policy
    try:
        loaded = load_policy(path)
    except YamlFileError as exc:
        typer.echo(str(exc))
        raise typer.Exit(1) from None
    typer.echo(explain_text(loaded))


@rules_app.command("docs")
def rules_docs(path: Path = PathArgument,
               out: Path = typer.Option(Path("policy-catalogue.html"), "--out", help="The HTML file to write."),
               fired: Path = typer.Option(None, "--fired", help="Actions of the last run as JSON Lines "
                                                               "(`rules replay --out`).")) -> None:
    """生成策略目录网页（白话说明、状态图、测试结果、最近一次运行的动作） / Write the HTML policy catalogue."""
    from safecity.rules.policy_docs import catalogue_html
    from safecity.rules.testing import run_policy_tests
    policies = _load(path)
    records = [json.loads(line) for line in fired.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if fired else []
    results = {loaded.id: run_policy_tests(loaded) for loaded in policies}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(catalogue_html(policies, results, records, str(fired or "")), encoding="utf-8")
    failed = sum(not r.passed for rs in results.values() for r in rs)
    typer.echo(f"{out}: {len(policies)} policies, {failed} failing tests, {len(records)} actions")


@rules_app.command("schema")
def rules_schema(out: Path = typer.Option(Path("docs/schemas"), "--out", help="Folder for the schema files.")) -> None:
    """导出各类策略的 JSON Schema（供编辑器补全与校验） / Write the JSON Schema of every policy kind for editors."""
    from safecity.rules.schema import write_schemas
    for path in write_schemas(out):
        typer.echo(str(path))


@rules_app.command("test")
def rules_test(path: Path = PathArgument, site: Path | None = SiteOption) -> None:
    """运行策略文件内的测试 / Run the tests written inside the policy files."""
    from safecity.rules.testing import run_policy_tests
    policies = _load(path)
    failed = passed = 0
    for policy in policies:
        for result in run_policy_tests(policy):
            failed += not result.passed
            passed += result.passed
            detail = "" if result.passed else " — " + "; ".join(result.failures)
            typer.echo(f"{'PASS' if result.passed else 'FAIL'} {policy.policy.id} :: {result.name}{detail}")
    typer.echo(f"{passed} passed, {failed} failed in {len(policies)} policies")
    raise typer.Exit(1 if failed else 0)


EventsOption = typer.Option(None, "--events", help="Events from a JSON Lines file instead of the silver tables.")


def _moment(text: str, option: str, time_zone: str):
    import datetime as dt
    from zoneinfo import ZoneInfo
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        typer.echo(f"{option} 应为 ISO 8601 时间 / {option} must be an ISO 8601 time, got {text!r}", err=True)
        raise typer.Exit(2) from None
    # A time without a zone is the city's local time, as duty officers write it.
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(time_zone))


def _period(start: str, end: str, env: str | None, home: Path | None):
    time_zone = _settings(env, home).city.timezone
    return _moment(start, "--from", time_zone), _moment(end, "--to", time_zone)


@contextmanager
def _events(events_file: Path | None, start, end, env: str | None, home: Path | None, policies=()):
    """The period's events: silver's are streamed from a connection that stays open while they are evaluated."""
    from safecity.rules.events import fact_types, read_events_file, silver_events
    from safecity.standards.catalogue import load_catalogue
    catalogue = load_catalogue()
    if events_file is not None:
        yield read_events_file(events_file, catalogue, start, end)
        return
    from safecity.lakehouse.warehouse import connect
    settings = _settings(env, home)
    with connect(settings, read_only=True) as con:
        yield silver_events(con, catalogue, start, end, facts=fact_types(policies))


def _write_records(out: Path, records) -> None:
    from safecity.rules.executor import payload
    from safecity.rules.sinks import payload_text
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(payload_text(payload(r)) + "\n" for r in records), encoding="utf-8")


@rules_app.command("replay")
def rules_replay(start: str = typer.Option(..., "--from", help="First event time (ISO 8601; local time if no zone)."),
                 end: str = typer.Option(..., "--to", help="End of the period, exclusive."),
                 policies_dir: Path = typer.Option(None, "--policies", help="Policy set (default: the live one)."),
                 events_file: Path = EventsOption,
                 out: Path = typer.Option(None, "--out", help="Write the actions as JSON Lines."),
                 as_json: bool = typer.Option(False, "--json"),
                 env: str | None = EnvOption, home: Path | None = HomeOption,
        site: Path | None = SiteOption) -> None:
    """回放历史 / Run the events of a period through a policy set on an event-time clock."""
    from safecity.rules.replay import replay
    policies = _load(policies_dir)
    with _events(events_file, *_period(start, end, env, home), env, home, policies) as events:
        run = replay(policies, events)
    if out:
        _write_records(out, run.result.outbox)
    summary = {"events": run.events, "actions": len(run.result.outbox),
               "by_policy_action": {f"{p} {a}": n for (p, a), n in run.by_policy_action().items()},
               "rule_errors": len(run.result.errors), "rejected_events": len(run.result.rejected),
               "unhandled_events": run.result.unhandled_by_type(),
               "set_aside": [f"{s.policy_id}@{s.policy_version}" for s in run.set_aside]}
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    typer.echo(f"回放 / replayed {run.events} events: {len(run.result.outbox)} actions")
    for key, count in summary["by_policy_action"].items():
        typer.echo(f"  {key:<60} {count:>8}")
    typer.echo(f"  rule errors {summary['rule_errors']}, rejected events {summary['rejected_events']}, "
               f"set aside {summary['set_aside'] or 'none'}")


@rules_app.command("diff")
def rules_diff(policies_dir: Path = typer.Option(..., "--policies", help="The changed policy set."),
               start: str = typer.Option(..., "--from"), end: str = typer.Option(..., "--to"),
               live_dir: Path = typer.Option(None, "--live", help="The live policy set (default: the shipped one)."),
               events_file: Path = EventsOption, as_json: bool = typer.Option(False, "--json"),
               env: str | None = EnvOption, home: Path | None = HomeOption,
        site: Path | None = SiteOption) -> None:
    """比较策略集 / Actions a changed policy set would add or drop compared with the live one over a period."""
    from safecity.rules.executor import payload
    from safecity.rules.replay import diff
    live, candidate = _load(live_dir), _load(policies_dir)
    with _events(events_file, *_period(start, end, env, home), env, home, [*live, *candidate]) as events:
        result = diff(live, candidate, events)
    if as_json:
        typer.echo(json.dumps({"added": [payload(r) for r in result.added],
                               "dropped": [payload(r) for r in result.dropped],
                               "unchanged": result.unchanged}, ensure_ascii=False, indent=2, default=str))
        return
    typer.echo(f"{result.live.events} events: +{len(result.added)} added, -{len(result.dropped)} dropped, "
               f"{result.unchanged} unchanged")
    for sign, records in (("+", result.added), ("-", result.dropped)):
        for r in records:
            typer.echo(f"{sign} {r.policy_id} {r.action} {json.dumps(r.params, ensure_ascii=False)} "
                       f"← {','.join(r.matched_event_ids)}")


@rules_app.command("route")
def rules_route(bootstrap: str = typer.Option(..., "--bootstrap", help="Kafka bootstrap servers."),
                topics: list[str] = typer.Option(..., "--topic", help="Raw event topic (repeat for several)."),
                group: str = typer.Option("safecity-rules-router", "--group", help="Consumer group of routers."),
                policies_dir: Path = typer.Option(None, "--policies"),
                keyed_partitions: int = typer.Option(3, "--partitions", help="Partitions of new keyed topics."),
                max_messages: int | None = typer.Option(None, "--max-messages"),
                idle_seconds: float | None = typer.Option(None, "--idle-seconds"),
                max_wait: float = typer.Option(MAX_WAIT_S, "--max-wait", help="Seconds a raw partition the broker holds "
                                                                        "more of may hold the others back, so events "
                                                                        "go on in event-time order.")) -> None:
    """按策略分区键重新分发事件 / Re-publish raw events to <topic>.by.<key>, keyed by each reading policy's key."""
    from safecity.rules.streaming import route
    policies = _load(policies_dir)
    stats = route(bootstrap, topics, group, policies, keyed_partitions=keyed_partitions,
                  max_messages=max_messages, idle_seconds=idle_seconds, max_wait=max_wait)
    typer.echo(f"{stats.messages} events in {stats.batches} batches: {stats.published} re-published, "
               f"dropped {stats.dropped or 'none'}, unreadable {stats.undecodable}; at most {stats.held_back} "
               f"held back for event-time order, {stats.waited} waits for a lagging partition")


@rules_app.command("serve")
def rules_serve(bootstrap: str = typer.Option(..., "--bootstrap", help="Kafka bootstrap servers."),
                topics: list[str] = typer.Option(..., "--topic", help="Raw event topic (repeat for several); "
                                                                      "serve reads its keyed topics."),
                group: str = typer.Option("safecity-rules", "--group", help="Consumer group: workers share it."),
                policies_dir: Path = typer.Option(None, "--policies"),
                outbox: str = typer.Option("iceberg", "--outbox", help="iceberg, kafka (topic "
                                                                        "safecity.rules.outbox) or file:PATH."),
                max_messages: int | None = typer.Option(None, "--max-messages"),
                idle_seconds: float | None = typer.Option(None, "--idle-seconds"),
                checkpoints: Path | None = typer.Option(None, "--checkpoints", help="Folder of per-partition "
                                                        "state checkpoints (shared by the group's workers); "
                                                        "open charts and windows then survive crashes."),
                checkpoint_every: int | None = typer.Option(None, "--checkpoint-every",
                                                            help="Also checkpoint every N batches."),
                checkpoint_seconds: float = typer.Option(1.0, "--checkpoint-seconds",
                                                         help="A partition that took events is checkpointed when "
                                                              "its checkpoint is this many seconds old."),
                env: str | None = EnvOption, home: Path | None = HomeOption,
        site: Path | None = SiteOption) -> None:
    """流式运行 / Consume the keyed topics `rules route` fills as a consumer group; write fired actions to the
    outbox."""
    from safecity.config.site import current_site
    from safecity.rules.sinks import FileSink, KafkaSink
    from safecity.rules.streaming import (OUTBOX_TOPIC, iceberg_late, iceberg_outbox, jsonl_late, serve,
                                          sink_outbox)
    policies = _load(policies_dir)
    # Events beyond the site's allowed lateness go to ops.late_events beside an Iceberg outbox, else to JSON Lines:
    # beside a file outbox (<file>.late.jsonl), or in the state folder (rules/late-events.jsonl).
    if outbox == "iceberg":
        from safecity.lakehouse.catalog import open_catalog
        catalog = open_catalog(_settings(env, home))
        writer, late = iceberg_outbox(catalog), iceberg_late(catalog)
    elif outbox == "kafka":
        writer = sink_outbox(KafkaSink("outbox", bootstrap, OUTBOX_TOPIC))
        late = jsonl_late(_settings(env, home).paths.home / "rules" / "late-events.jsonl")
    elif outbox.startswith("file:"):
        writer, late = sink_outbox(FileSink("outbox", outbox[5:])), jsonl_late(f"{outbox[5:]}.late.jsonl")
    else:
        typer.echo(f"--outbox: iceberg, kafka or file:PATH, got {outbox!r}", err=True)
        raise typer.Exit(2)
    from safecity.rules.checkpoint import DirectoryCheckpoints
    stats = serve(bootstrap, topics, group, policies, writer, max_messages=max_messages, idle_seconds=idle_seconds,
                  checkpoints=DirectoryCheckpoints(checkpoints) if checkpoints else None,
                  checkpoint_every=checkpoint_every, checkpoint_seconds=checkpoint_seconds,
                  lateness=current_site().allowed_lateness_seconds, late=late)
    typer.echo(f"{stats.messages} events in {stats.batches} batches: {stats.actions} actions, "
               f"{len(stats.result.errors)} rule errors, reloads {stats.reloads or 'none'}, "
               f"迟到未评估 / beyond the allowed lateness {stats.late_by_type or 'none'}")


SinksOption = typer.Option(None, "--sinks", help="Sink configuration (YAML; default: every action into "
                                                 "rules/actions.jsonl in the state folder).")
LedgerOption = typer.Option(None, "--ledger", help="Delivery ledger (default: rules/delivery-ledger.jsonl in the "
                                                   "state folder).")


def _sink_config(sinks: Path | None):
    from safecity.rules.executor import DEFAULT_CONFIG, load_executor_config
    if sinks is None:
        return DEFAULT_CONFIG
    try:
        return load_executor_config(sinks)
    except (YamlFileError, ValueError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _deliver(settings, config, ledger: Path | None, extra=()) -> None:
    """Run the executor and print, per sink, what stands delivered, waiting and dead-lettered."""
    from safecity.rules.delivery import deliver_outbox
    try:
        run = deliver_outbox(settings, config, ledger, extra=extra)
    except ValueError as exc:  # a sink that cannot open (its secret's variable unset)
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    report = run.report
    typer.echo(f"投递 / delivery: {run.records} outbox records")
    for sink, counts in report.by_sink().items():
        typer.echo(f"  {sink:<20} 已投递 delivered {counts['delivered']:>6} (this run {counts['delivered_this_run']})"
                   f"  待重试 retrying {counts['retrying']:>5}  死信 dead letter {counts['dead_letter']:>5}"
                   f"  attempts {counts['attempts_this_run']}")
    for sink, messages in report.failed.items():
        typer.echo(f"  {sink}: last failure / 最近失败: {messages[-1]}")
    if run.views_error:
        typer.echo(run.views_error, err=True)
    raise typer.Exit(1 if report.retrying or report.dead_lettered else 0)


@rules_app.command("deliver")
def rules_deliver(sinks: Path = SinksOption, ledger: Path = LedgerOption,
                  env: str | None = EnvOption, home: Path | None = HomeOption,
                  site: Path | None = SiteOption) -> None:
    """投递动作 / Deliver the outbox's actions to the configured sinks, at least once, with retries; exits 1 when
    something is still waiting or was dead-lettered in this run."""
    _deliver(_settings(env, home), _sink_config(sinks), ledger)


dead_letter_app = typer.Typer(help="死信 / Dead letters: actions a sink kept refusing; list them, send them back.",
                              no_args_is_help=True)
rules_app.add_typer(dead_letter_app, name="dead-letter")


@dead_letter_app.command("list")
def dead_letter_list(as_json: bool = typer.Option(False, "--json"), env: str | None = EnvOption,
                     home: Path | None = HomeOption, site: Path | None = SiteOption) -> None:
    """列出死信 / List the dead-lettered actions (ops.action_dead_letter)."""
    from safecity.lakehouse.catalog import open_catalog
    from safecity.rules.delivery import DEAD_LETTER_TABLE
    catalog = open_catalog(_settings(env, home))
    rows = catalog.load_table(DEAD_LETTER_TABLE).scan().to_arrow().to_pylist() \
        if catalog.table_exists(DEAD_LETTER_TABLE) else []
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    typer.echo(f"死信 / dead letters: {len(rows)}")
    for r in rows:
        typer.echo(f"  {r['idempotency_key'][:16]} {r['sink']:<16} {r['policy_id']} {r['action']} "
                   f"attempts {r['attempts']}: {r['last_error']}")


@dead_letter_app.command("retry")
def dead_letter_retry(keys: list[str] = typer.Argument(None, help="Idempotency keys (or their first characters)."),
                      all_: bool = typer.Option(False, "--all", help="Every dead letter."),
                      sink: str = typer.Option(None, "--sink", help="Only the dead letters of this sink."),
                      sinks: Path = SinksOption, ledger: Path = LedgerOption, env: str | None = EnvOption,
                      home: Path | None = HomeOption, site: Path | None = SiteOption) -> None:
    """重新投递死信 / Send dead letters back with a fresh attempt budget, and deliver them now."""
    from safecity.rules.delivery import requeue
    if bool(keys) == all_:
        typer.echo("给出键或 --all / give idempotency keys or --all", err=True)
        raise typer.Exit(2)
    settings, config = _settings(env, home), _sink_config(sinks)
    picked = requeue(settings, None if all_ else keys, ledger, sink)
    if not picked:
        typer.echo("没有匹配的死信 / no matching dead letter", err=True)
        raise typer.Exit(1)
    typer.echo(f"重新排队 / requeued {len(picked)}: " + ", ".join(f"{s}:{k[:16]}" for s, _, k in picked))
    _deliver(settings, config, ledger, extra=[state.payload for _, state, _ in picked if state.payload])
