"""`safecity cameras`: video quality diagnosis of snapshots from the command line, and its accuracy."""
import json
from pathlib import Path

import typer

from safecity.config.yamlfile import YamlFileError
from safecity.orchestration.cli_options import EnvOption, HomeOption, settings_or_exit

cameras_app = typer.Typer(help="摄像机 / Cameras: video quality diagnosis (VQD) of snapshots and its accuracy; "
                               "the camera state machine on the keepalive stream.",
                          no_args_is_help=True)

ConfigOption = typer.Option(None, "--config", help="Thresholds file (default: config/video_quality.yaml).")


def _config(path: Path | None):
    from safecity.ingestion.video_quality.thresholds import load_thresholds
    try:
        return load_thresholds(path)
    except YamlFileError as exc:
        typer.echo(f"配置错误 / configuration error:\n{exc}", err=True)
        raise typer.Exit(2) from None


def _text(path: Path, result: dict) -> str:
    if result.get("error"):
        return f"{path}: 错误 / error: {result['error']}"
    defect = result["defect"]
    lines = [f"{path}: {'正常 / ok' if defect is None else '异常 / defect: ' + ', '.join(result['defects'])}"]
    for c in result["checks"]:
        score = "-" if c["value"] is None else f"{c['value']:.3f}"
        rule = f"{'<' if c['fault_when'] == 'below' else '>'} {c['limit']:.4g}"
        if c["normal"] is not None:
            rule += f" (常态 normal {c['normal']:.4g})"
        note = f"  ({c['note']})" if c["note"] else ""
        lines.append(f"  {c['check']:<13} {c['name_zh']:<12} {score:>10}  {rule:<28} "
                     f"{c['verdict_zh']} / {c['verdict_en']}{note}")
    return "\n".join(lines)


@cameras_app.command("diagnose")
def diagnose_command(
        files: list[Path] = typer.Argument(..., help="Snapshot files (JPEG/PNG). A camera's files in time order: "
                                                     "each is checked for frozen against the one before."),
        reference: Path | None = typer.Option(None, "--reference", help="Reference frame of the camera(s), for "
                                                                        "scene_change and ptz_failure."),
        good: list[Path] = typer.Option([], "--good", help="A known-good snapshot of the camera (repeat the option): "
                                                          "its baseline is learned from them, the files are judged "
                                                          "against it, and the first is the reference frame unless "
                                                          "--reference names one."),
        as_json: bool = typer.Option(False, "--json", help="One JSON object per file, one per line."),
        config_path: Path | None = ConfigOption) -> None:
    """诊断快照 / Diagnose snapshots: each check's measure, score, the camera's normal, limit and verdict.

    Unreadable files are reported (an error object with --json) and the others still diagnosed; the exit code is 1
    if any file failed."""
    from safecity.ingestion.video_quality.batch import diagnose_files
    from safecity.ingestion.video_quality.snapshots import SnapshotError, read_snapshot
    config = _config(config_path)
    baselines = _baselines(good, config)
    store = None
    # Without --reference the first --good snapshot is the preset's view (for scene_change and ptz_failure).
    reference = reference if reference is not None or not good else good[0]
    if reference is not None:
        try:
            picture = read_snapshot(reference)
        except SnapshotError as exc:
            typer.echo(f"参考帧无法读取 / cannot read the reference frame: {exc}", err=True)
            raise typer.Exit(2) from None
        store = _OneReference(picture, config)
    failed = 0
    # Given order is kept in the output; files of one camera are compared in time order (diagnose_files).
    results = {item.path: item for item in diagnose_files(files, store, config, baselines=baselines)}
    for path in files:
        item = results[Path(path)]
        if item.diagnosis is None:
            failed += 1
            result = {"file": str(path), "error": item.error}
        else:
            result = {"file": str(path), "device_id": item.device_id,
                      "captured_at": item.captured_at.isoformat() if item.captured_at else None,
                      **item.diagnosis.as_dict(config), "error": None}
        typer.echo(json.dumps(result, ensure_ascii=False) if as_json else _text(path, result))
    raise typer.Exit(1 if failed else 0)


def _baselines(good: list[Path], config):
    """A baseline book that gives every camera the baseline learned from the --good snapshots (None without)."""
    if not good:
        return None
    from safecity.ingestion.video_quality.baseline import measures
    from safecity.ingestion.video_quality.checks import Frame
    from safecity.ingestion.video_quality.snapshots import SnapshotError, read_snapshot
    try:
        learned = [measures(Frame.of(read_snapshot(path))) for path in good]
    except SnapshotError as exc:
        typer.echo(f"正常快照无法读取 / cannot read a --good snapshot: {exc}", err=True)
        raise typer.Exit(2) from None
    return _OneBaseline(config.baseline, learned)


class _OneBaseline:
    """Every camera judged against the baseline of the --good snapshots named on the command line."""

    def __init__(self, settings, learned: list[dict]):
        from safecity.ingestion.video_quality.baseline import BaselineBook
        self.book = BaselineBook(settings.model_copy(update={"min_snapshots": 1}))
        for values in learned:
            self.book.add("--good", values)

    def baseline(self, device_id):
        return self.book.baseline("--good")

    def add(self, device_id, values) -> None:
        """The command line's baseline stays as given: the diagnosed files do not change it."""


class _OneReference:
    """A reference store that gives every camera the one reference frame named on the command line."""

    def __init__(self, picture, config):
        from safecity.ingestion.video_quality.checks import Frame
        self.frame = Frame.of(picture)

    def get(self, device_id):
        return self.frame

    def observe(self, *args) -> bool:
        return False

    def release(self, device_id) -> None:
        """The one reference serves every camera: nothing to forget."""


@cameras_app.command("accuracy")
def accuracy_command(
        folders: list[Path] = typer.Argument(..., help="Simulator output folder(s) with manifest.json, or one labelled "
                                                       "set with labels.csv (file, device_id, captured_at, label, "
                                                       "previous), e.g. from tests/ingestion/real_snapshot_set.py."),
        as_json: bool = typer.Option(False, "--json", help="Print the figures as one JSON object."),
        config_path: Path | None = ConfigOption) -> None:
    """诊断准确率 / Precision, recall and F1 per defect class, false-positive rate per condition, on labelled
    simulator snapshots or a labelled set of real pictures."""
    from safecity.ingestion.video_quality.accuracy import LABELS_FILE, ManifestError, evaluate, evaluate_labelled, \
        render_table
    from safecity.ingestion.video_quality.snapshots import SnapshotIndexError
    config = _config(config_path)
    try:
        if len(folders) == 1 and (folders[0] / LABELS_FILE).exists():
            report = evaluate_labelled(folders[0], config)
        else:
            report = evaluate(list(folders), config)
    except (ManifestError, SnapshotIndexError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if as_json else render_table(report, config))
    raise typer.Exit(1 if report.errors else 0)


@cameras_app.command("watch")
def watch_command(
        bootstrap: str = typer.Option(..., "--bootstrap", help="Kafka HOST:PORT."),
        topic: str = typer.Option("gb28181.device_status", "--topic", help="GB/T 28181 keepalive/status topic."),
        out_topic: str = typer.Option("safecity.events.live", "--out-topic",
                                      help="Where camera_health / camera_down events go (for `rules route`)."),
        tick_seconds: int = typer.Option(0, "--tick-seconds", help="Tick period in event time (0: the keepalive "
                                                                   "interval)."),
        keepalive_seconds: int = typer.Option(0, "--keepalive-seconds", help="Keepalive interval (0: the median "
                                                                             "spacing in the home's silver, else 60)."),
        refresh_minutes: int = typer.Option(30, "--refresh-minutes", help="Re-publish an offline camera's stay "
                                                                          "after its minutes offline grew this much."),
        checkpoint: Path | None = typer.Option(None, "--checkpoint", help="What was published (default: "
                                                                          "<home>/state/camera_watch.json)."),
        idle_seconds: float | None = typer.Option(None, "--idle-seconds", help="Stop after this long without a "
                                                                               "message (default: run until Ctrl-C)."),
        env: str | None = EnvOption, home: Path | None = HomeOption) -> None:
    """摄像机状态监视 / Run the camera state machine on the keepalive stream and publish camera_health and
    camera_down events as they happen (the batch step's same code, ticked in event time).

    The registry (catalog: parents, positions, point levels) and the snapshot diagnoses are read once at start from
    the home's silver tables (silver.camera, silver.snapshot_diagnosis): run the main job on the home first. The topic
    is read from its start; the checkpoint keeps what was published, so a restart does not publish it again."""
    import logging

    from safecity.analytics.camera_stream import tick_line, watch
    from safecity.standards.catalogue import load_catalogue
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    settings = settings_or_exit(env, home)
    defects = {c.code: (c.name_zh, c.name_en) for c in load_catalogue(settings.city.id).code_tables["vqd_item"].codes}
    try:
        summary = watch(settings, bootstrap, topic=topic, out_topic=out_topic, tick_seconds=tick_seconds or None,
                        keepalive_seconds=keepalive_seconds, refresh_minutes=refresh_minutes, checkpoint=checkpoint,
                        idle_seconds=idle_seconds, on_tick=lambda tick: typer.echo(tick_line(tick)),
                        defect_names=defects)
    except ValueError as exc:
        typer.echo(f"错误 / error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(summary.render())
