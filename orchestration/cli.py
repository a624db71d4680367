"""The `safecity` command."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from safecity.config.yamlfile import YamlFileError
from safecity.orchestration.cli_errors import DEBUG_KEY, ErrorReportingGroup, fail
from safecity.orchestration.cli_options import EnvOption, HomeOption, SiteOption, settings_or_exit as _settings
from safecity.orchestration.cameras_cli import cameras_app
from safecity.orchestration.rules_cli import rules_app
from safecity.orchestration.site_cli import site_app
from safecity.orchestration.service_cli import board, serve
from safecity.orchestration.transforms_cli import transforms_app

app = typer.Typer(help="SafeCity 平安城市数据平台 / SafeCity data platform and policy rule engine.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False,
                  cls=ErrorReportingGroup)
app.add_typer(rules_app, name="rules")
app.add_typer(site_app, name="site")
standards_app = typer.Typer(help="数据标准 / Standards: check files, build the data dictionary.", no_args_is_help=True)
app.add_typer(standards_app, name="standards")
app.add_typer(cameras_app, name="cameras")
app.add_typer(transforms_app, name="transforms")
app.command("serve")(serve)
app.command("board")(board)
quarantine_app = typer.Typer(help="隔离区 / Quarantine: what was rejected and why; re-judge it after a fix.",
                             no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")


@app.callback()
def _root(ctx: typer.Context,
          debug: bool = typer.Option(False, "--debug", help="出错时显示调用栈 / Show the traceback of an error."),
          site: Path | None = SiteOption) -> None:
    ctx.meta[DEBUG_KEY] = debug


def _logging(quiet: bool) -> None:
    # Our progress lines at INFO; libraries (alembic, dbt adapters) only when they warn.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("safecity").setLevel(logging.WARNING if quiet else logging.INFO)
    # Dagster prints its run log itself; passing it on to our handler would print every line twice.
    logging.getLogger("dagster").propagate = False


@app.command()
def run(as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
        simulate: bool = typer.Option(False, "--simulate", help="先模拟一天的数据 / Simulate a day of the site's city "
                                                                "into landing first (the default site does so by "
                                                                "itself when its landing is empty)."),
        env: str | None = EnvOption, home: Path | None = HomeOption,
        site: Path | None = SiteOption) -> None:
    """运行主作业 / Run the main job on whatever is in landing: the whole asset graph, then a summary."""
    _logging(quiet=as_json)
    settings = _settings(env, home)
    from safecity.orchestration.main_job import run_main_job
    from safecity.orchestration.summary import render_text
    # With --json, stdout carries the JSON object alone; the job's own output (dbt's log lines) goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        summary = run_main_job(settings, simulate=simulate)
    typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2) if as_json else render_text(summary))
    raise typer.Exit(0 if summary.success else 1)


@app.command()
def ui(port: int = typer.Option(3000, help="Port for the Dagster UI."),
       env: str | None = EnvOption, home: Path | None = HomeOption,
        site: Path | None = SiteOption) -> None:
    """启动 Dagster 界面 / Start the Dagster UI on the same state as `safecity run`."""
    settings = _settings(env, home)
    from safecity.orchestration.main_job import prepare_dagster_home
    prepare_dagster_home(settings)
    # The profile by its file and the site by its folder (SAFECITY_SITE, set by --site): what this command read.
    environment = {**os.environ, "SAFECITY_HOME": str(settings.paths.home),
                   "SAFECITY_ENV": str(settings.environment_file)}
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-m", "safecity.orchestration.location", "-h", "127.0.0.1", "-p", str(port)]
    typer.echo(f"Dagster UI: http://127.0.0.1:{port}  (state: {settings.paths.home})")
    # Become `dagster dev`, so that Ctrl-C and signals reach it directly and it stops its own children.
    os.execve(command[0], command, environment)


def _load_mapping(settings, source_mapping: str):
    from safecity.ingestion.mapping import load_mapping, mapping_path
    from safecity.standards.catalogue import load_catalogue
    catalogue = load_catalogue(settings.city.id)
    try:
        return catalogue, load_mapping(mapping_path(source_mapping), catalogue)
    except YamlFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@quarantine_app.command("summary")
def quarantine_summary(entity: str = typer.Argument(None, help="Entity (default: all)."),
                       as_json: bool = typer.Option(False, "--json"),
                       env: str | None = EnvOption, home: Path | None = HomeOption,
        site: Path | None = SiteOption) -> None:
    """隔离记录按原因统计 / Quarantined records by entity, source, reason and field, with an example value."""
    from safecity.ingestion.quarantine import quarantine_summary as summarise
    records = summarise(_settings(env, home), entity)
    if as_json:
        typer.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    for r in records or [{"entity": "–", "source": "none", "reason": "", "field": "", "rows": 0, "example_value": "",
                          "message_zh": "", "example_at": "", "kind": ""}]:
        # kind: reject (the record is in quarantine) or flag (a soft check left the field out; the record is in silver)
        typer.echo(f"{r['entity']:<18} {r['source']:<28} {r['reason']:<16} {r['field'] or '':<18} {r['rows']:>8,}  "
                   f"{r['kind']:<6} {r['message_zh'] or ''}  e.g. {r['example_value']!r} at {r['example_at']}")


@quarantine_app.command("reprocess")
def quarantine_reprocess(source_mapping: str = typer.Argument(..., help="Mapping id or path (after a fix)."),
                         as_json: bool = typer.Option(False, "--json"),
                         env: str | None = EnvOption, home: Path | None = HomeOption,
        site: Path | None = SiteOption) -> None:
    """按修正后的映射与标准重新判定隔离记录 / Re-judge a source's quarantined records with the current mapping and
    standard; those that now conform move to silver."""
    _logging(quiet=as_json)
    settings = _settings(env, home)
    from safecity.lakehouse.warehouse import connect
    from safecity.lakehouse.catalog import open_catalog
    from safecity.lakehouse.views import publish_views
    from safecity.ingestion.reprocess import reprocess_quarantine
    catalogue, loaded = _load_mapping(settings, source_mapping)
    catalog = open_catalog(settings)
    report = reprocess_quarantine(catalog, catalogue, loaded)
    with connect(settings) as con:
        publish_views(con, catalog)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        typer.echo(f"{report.source}: {report.files_reread} files rejected whole read again from their kept bytes "
                   f"({report.files_still_rejected} still rejected); {report.examined} records re-judged, "
                   f"{report.recovered} moved to silver, still rejected {dict(report.still_rejected)}")


@app.command()
def ingest(source_mapping: str = typer.Argument(..., help="Mapping id (config/sources/<id>.yaml) or path."),
           paths: list[Path] = typer.Argument(None, help="Files to ingest (default: the source's landing folder)."),
           stream: bool = typer.Option(False, "--stream", help="读取映射的 Kafka 主题 / Read the mapping's Kafka "
                                                               "topic instead of files."),
           kafka: str | None = typer.Option(None, help="Kafka bootstrap host:port (default: the profile's)."),
           as_of: datetime | None = typer.Option(None, "--as-of", help="检查时钟 / Clock for the 'not in the "
                                                                       "future' check (replays); default now."),
           env: str | None = EnvOption, home: Path | None = HomeOption,
        site: Path | None = SiteOption) -> None:
    """接入数据 / Ingest files or a Kafka topic through bronze into silver and quarantine."""
    _logging(quiet=False)
    for path in paths or []:
        if not path.is_file():
            what = "是目录 / is a folder" if path.is_dir() else "不存在 / does not exist"
            raise fail(f"{path}: {what}; ingest takes files (give none to ingest the source's landing folder)")
    settings = _settings(env, home)
    from safecity.lakehouse.warehouse import connect
    from safecity.lakehouse.catalog import open_catalog
    from safecity.lakehouse.views import publish_views
    from safecity.ingestion.landing import open_landing
    from safecity.ingestion.pipeline import ingest_source
    from safecity.ingestion.streams import StreamIngestor
    catalogue, loaded = _load_mapping(settings, source_mapping)
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=ZoneInfo(settings.city.timezone))
    catalog = open_catalog(settings)
    if stream:
        bootstrap = kafka or (settings.secret("/kafka/bootstrap_servers_env") if settings.environment.kafka else None)
        if not bootstrap or not loaded.mapping.topic:
            typer.echo(f"{loaded.path}: --stream needs a topic in the mapping and a Kafka bootstrap "
                       f"(--kafka or the profile's kafka section)", err=True)
            raise typer.Exit(2)
        report = StreamIngestor(catalog, catalogue, loaded, bootstrap, as_of=as_of).run()
    else:
        report = ingest_source(catalog, catalogue, loaded, open_landing(settings), list(paths) if paths else None,
                               as_of=as_of)
    with connect(settings) as con:
        publish_views(con, catalog)
    for f in report.files:
        state = "already ingested" if f.skipped else "ingested"
        if f.rejected_whole:
            state += f", rejected whole ({f.rejected_whole}: {f.error})" if f.error else f", rejected whole " \
                                                                                         f"({f.rejected_whole})"
        typer.echo(f"{f.file}: {state}: {f.received} received, {f.silver} silver, {f.quarantined} quarantined "
                   f"{dict(f.reasons) if f.reasons else ''}")
    typer.echo(f"total: {report.received} received, {report.silver} silver, {report.quarantined} quarantined")


@app.command()
def simulate(city: str | None = typer.Option(None, "--city", help="City (default: the site's city)."),
             start: str = typer.Option(..., "--start", help="First day, YYYY-MM-DD."),
             days: int = typer.Option(1, "--days", min=1),
             scale: str = typer.Option("small", "--scale", help="small (seconds, for tests) or city (Qinhuangdao-sized)."),
             seed: int = typer.Option(1, "--seed"),
             out: Path = typer.Option(..., "--out", help="Folder to write into."),
             kafka: str | None = typer.Option(None, "--kafka", help="Kafka bootstrap servers: streams go there too."),
             live: bool = typer.Option(False, "--live", help="Then replay the day's policy events onto Kafka "
                                                             "(--kafka) in event-time order, live."),
             speed: float = typer.Option(60.0, "--speed", min=0.0, help="--live: times real time (0: as fast as "
                                                                        "the broker takes them)."),
             topic: str = typer.Option("safecity.events.live", "--topic", help="--live: the topic of the day."),
             site: Path | None = SiteOption) -> None:
    """模拟城市数据 / Simulate the city's sources in the bureau's own formats, with faults and a ground truth;
    with --live, replay the day's events onto Kafka for `rules route` / `rules serve` and the board."""
    import datetime as dt
    from safecity.simulator.run import simulate as run_simulation
    from safecity.simulator.scale import SCALES
    from safecity.config.site import current_site
    from safecity.simulator.world import SIMULATOR_DIR
    _logging(quiet=False)
    city = city or current_site().city
    if not (SIMULATOR_DIR / f"{city}.yaml").exists():
        known = sorted(p.stem for p in SIMULATOR_DIR.glob("*.yaml") if p.stem != "faults")
        raise fail(f"没有 {city} 的模拟档案 / no simulator profile for {city!r} (known: {known}); a site of another "
                   f"city runs on its own exports in landing")
        typer.echo(f"unknown scale {scale!r}: {', '.join(SCALES)}", err=True)
        raise typer.Exit(2)
    try:
        first = dt.date.fromisoformat(start)
    except ValueError:
        typer.echo(f"--start must be YYYY-MM-DD, got {start!r}", err=True)
        raise typer.Exit(2) from None
    if live and not kafka:
        raise fail("--live 需要 --kafka / --live needs --kafka HOST:PORT (the broker the day is replayed onto)")
    summary = run_simulation(city, first, days, scale, seed, out, None if live else kafka)
    typer.echo(f"模拟完成 / simulated {days} day(s) of {city} at scale {scale} in {summary.seconds} s → {out}")
    width = max(map(len, [*summary.counts, "faults"]))
    for name, counts in summary.counts.items():
        typer.echo(f"  {name:<{width}} {counts}")
    typer.echo(f"  {'faults':<{width}} {sum(summary.faults.values())} injected: {summary.faults}")
    typer.echo(f"  ground truth: {out / 'manifest.json'}")
    if live:
        _replay_live(out, kafka, speed or None, topic)


def _replay_live(files: Path, bootstrap: str, speed: float | None, topic: str) -> None:
    import tempfile
    from safecity.config.profiles import load_settings
    from safecity.orchestration.live_replay import prepare_day, replay_day

    with tempfile.TemporaryDirectory(prefix="safecity-live-") as home:
        settings = load_settings("local", home)
        typer.echo(f"实时回放准备 / preparing the live day: the main job over {files} on a home of its own")
        prepare_day(settings, files)
        day = replay_day(settings, bootstrap, speed, files, topic,
                         progress=lambda p: typer.echo(f"  {p.line()}"))
    typer.echo(f"实时回放完成 / replayed {day.events} events onto {day.topic}: {day.by_type}")
    typer.echo(f"  {day.stats}")
    typer.echo(f"  批处理答案 / the batch fired {day.batch_actions} actions: {day.batch_keys_file}")


@standards_app.command("check")
def standards_check(file: Path = typer.Argument(..., help="CSV file to check."),
                    entity: str = typer.Option(..., "--entity", help="Entity of the standards catalogue."),
                    encoding: str | None = typer.Option(None, "--encoding", help="Text encoding (default: UTF-8, "
                                                                                  "else GB18030)."),
                    mapping: str | None = typer.Option(None, "--mapping", help="Read the file through a source "
                                                                                 "mapping (config/sources/<id>.yaml)."),
                    as_json: bool = typer.Option(False, "--json", help="Print {total, accepted, rejected, reasons}."),
                    site: Path | None = SiteOption) -> None:
    """按标准检查文件 / Check a file against an entity; rejected rows are written beside it with their reasons.

    Rejected rows are a result, not an error: the exit code is 0 unless the file cannot be read."""
    from safecity.ingestion.filecheck import check_file, write_rejected
    from safecity.ingestion.readers import UnreadableFile
    from safecity.standards.catalogue import load_catalogue
    catalogue = load_catalogue()
    if entity not in catalogue.entities:
        from safecity.config.yamlfile import did_you_mean
        hint = did_you_mean(entity, catalogue.entities) or f"known: {', '.join(sorted(catalogue.entities))}"
        typer.echo(f"unknown entity {entity!r} ({hint})", err=True)
        raise typer.Exit(2)
    source = None
    if mapping:
        from safecity.ingestion.mapping import load_mapping, mapping_path
        try:
            source = load_mapping(mapping_path(mapping), catalogue).mapping
        except YamlFileError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
    try:
        result = check_file(catalogue, file, entity, encoding, mapping=source)
    except UnreadableFile as exc:
        typer.echo(f"文件无法读取 / cannot read the file: {exc}", err=True)
        raise typer.Exit(2) from None
    except LookupError as exc:
        typer.echo(f"unknown encoding: {exc}", err=True)
        raise typer.Exit(2) from None
    target = None
    if result.rejected:
        target = write_rejected(result, file.with_name(file.name + ".rejected.csv"))
    if as_json:
        typer.echo(json.dumps({"total": result.total, "accepted": result.accepted, "rejected": result.rejected,
                               "reasons": dict(result.reasons.most_common()), "flags": dict(result.flags.most_common()),
                               "rejected_file": str(target) if target else None}, ensure_ascii=False))
        return
    messages = {c.code: c for c in catalogue.code_tables["reasons"].codes}
    typer.echo(f"{file} ({result.encoding}) → {entity}: {result.total} rows, {result.accepted} accepted, "
               f"{result.rejected} rejected")
    for code, count in result.reasons.most_common():
        text = messages.get(code)
        typer.echo(f"  {code:<18} {count:>8}  {text.name_zh + ' / ' + text.name_en if text else ''}")
    for code, count in result.flags.most_common():  # soft checks: the field is left out, the record accepted
        text = messages.get(code)
        typer.echo(f"  {code:<18} {count:>8}  标记 flag: {text.name_zh + ' / ' + text.name_en if text else ''}")
    if result.unmatched_columns:
        typer.echo(f"  columns not in the standard (ignored): {', '.join(result.unmatched_columns)}")
    if target:
        typer.echo(f"rejected rows with reasons: {target}")


@standards_app.command("docs")
def standards_docs(out: Path = typer.Option(None, "--out", help="Folder (default: docs/ of the repository)."),
                   ) -> None:
    """生成数据字典 / Build the bilingual data dictionary (Markdown and a browsable HTML page)."""
    from safecity.orchestration.generated import REPOSITORY_DOCS, write_dictionary
    from safecity.standards.catalogue import load_catalogue
    for path in write_dictionary(load_catalogue(), out or REPOSITORY_DOCS):
        typer.echo(f"wrote {path}")


@standards_app.command("dbt")
def standards_dbt(check: bool = typer.Option(False, "--check", help="Only say whether the file is current.")) -> None:
    """生成 dbt 数据源定义 / Write transforms/models/sources.yml from the standards."""
    from safecity.orchestration.generated import dbt_sources_text, write_dbt_sources
    from safecity.standards.catalogue import load_catalogue
    from safecity.transforms.sources import SOURCES_FILE
    catalogue = load_catalogue()
    if check:
        current = SOURCES_FILE.exists() and SOURCES_FILE.read_text(encoding="utf-8") == dbt_sources_text(catalogue)
        typer.echo(f"{SOURCES_FILE}: {'current' if current else 'out of date: run safecity standards dbt'}")
        raise typer.Exit(0 if current else 1)
    typer.echo(f"wrote {write_dbt_sources(catalogue)}")


def main() -> None:
    app()
