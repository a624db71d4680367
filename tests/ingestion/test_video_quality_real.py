"""Video quality diagnosis on real street-camera pictures (tests/data/real/snapshots) and their seeded degraded
copies (real_snapshot_set.py): accuracy per class, each camera judged against its own baseline, the baseline kept
in silver.camera_baseline, verdicts explained, and snapshots named by a sidecar index."""
import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from safecity.ingestion.landing import LocalLanding
from safecity.ingestion.video_quality import checks
from safecity.ingestion.video_quality.accuracy import evaluate_labelled, render_table
from safecity.ingestion.video_quality.baseline import BaselineBook, measures
from safecity.ingestion.video_quality.baseline_store import TABLE as BASELINE_TABLE
from safecity.ingestion.video_quality.checks import Frame
from safecity.ingestion.video_quality.diagnose import diagnose
from safecity.ingestion.video_quality.landing_batch import diagnose_landing
from safecity.ingestion.video_quality.snapshots import SnapshotIndexError, read_index
from safecity.ingestion.video_quality.thresholds import CHECKS, default_thresholds
from safecity.lakehouse.catalog import open_catalog
from tests.ingestion.real_snapshot_set import SOURCE, make_set, sensor, view

REAL = sorted(SOURCE.glob("*.jpg"))


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    return make_set(tmp_path_factory.mktemp("real17"), seed=17).parent


def picture(stem: str) -> np.ndarray:
    return cv2.imread(str(SOURCE / f"{stem}.jpg"))


@pytest.mark.parametrize("seed", [17, 18])
def test_real_frames_and_their_degraded_copies_meet_the_targets(seed, labelled, tmp_path):
    folder = labelled if seed == 17 else make_set(tmp_path, seed=seed).parent
    report = evaluate_labelled(folder)
    assert not report.errors and report.snapshots == 11 * (3 + 2 * len(CHECKS)) + 3
    for name, score in report.classes.items():
        assert score.support == 22, name
        assert min(score.precision, score.recall, score.f1) >= 0.95, (name, score)
    assert sum(report.clean.values()) == 36 and report.false_positive_rate() <= 0.02
    # The glare-blinded frame is no clean picture: some check must call it.
    assert list(report.natural.values()) and all(report.natural.values())
    assert "ptz_failure 云台失控" in render_table(report)


def test_a_real_clean_frame_of_little_texture_is_normal_for_its_camera_but_not_by_absolute_limits():
    # Falling snow and haze (shipcreek): judged against its own normal it is healthy; an occlusion of half the view
    # is still found against that normal.
    rng = np.random.default_rng(3)
    frame = picture("shipcreek_20210209_150241")
    book = BaselineBook(default_thresholds().baseline)
    baseline = book.learn_from("ship", [Frame.of(sensor(view(frame), rng)) for _ in range(5)])
    today = sensor(view(frame), rng)
    assert diagnose(today, baseline=baseline).defects == ()
    covered = today.copy()
    covered[:, : covered.shape[1] // 2] = 40
    result = diagnose(covered, baseline=baseline)
    assert "occlusion" in result.defects
    occlusion = result.result("occlusion")
    assert occlusion.normal == pytest.approx(baseline.normal["texture"]) and occlusion.score > occlusion.threshold


def test_noise_sigma_follows_real_sensor_noise_on_a_real_frame():
    base = view(picture("hilton_20210211_124238"))
    rng = np.random.default_rng(5)
    levels = [checks.noise_sigma(Frame.of(np.clip(base + rng.normal(0, s, base.shape), 0, 255).astype(np.uint8)))
              for s in (0, 5, 10, 25)]
    assert levels == sorted(levels) and levels[-1] > 4 * levels[0]


def test_frozen_means_unchanged_beyond_noise_and_an_advancing_osd_clock_is_alive():
    still = view(picture("searsmall_20210210_134312"))
    assert checks.still_difference(Frame.of(still), Frame.of(still.copy())) == 0.0
    ticked = still.copy()
    cv2.putText(ticked, "12:00:01", (380, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    # The view between the OSD bands is the same; the clock tile in the top band is not.
    frozen_limit = default_thresholds().checks["frozen"].threshold
    assert checks.still_difference(Frame.of(ticked), Frame.of(still)) > 3 * frozen_limit
    # Two real snapshots of one camera at other times (alaskacam, then track) are not frozen and not shaken.
    first, later = Frame.of(view(picture("alaskacam_20210208_140402"))), Frame.of(view(picture("track")))
    result = diagnose(later, first, first)
    assert result.result("frozen").verdict == "ok" and result.result("jitter").verdict == "ok"


def test_jitter_and_ptz_shift_are_measured_in_working_pixels():
    frame = picture("glennweb_20210211_165859")
    preset = Frame.of(view(frame))
    moved = Frame.of(view(frame, 30, 0))       # 30 px of 488 -> 29.5 px at 480
    shift = checks.shift(moved, preset)
    assert shift.pixels == pytest.approx(30 * 480 / 488, abs=1.5) and shift.response > 0.5
    assert diagnose(moved, preset, preset).defects == ("ptz_failure",)
    shaken = Frame.of(view(frame, 0, 8))
    assert diagnose(shaken, preset, preset).defects == ("jitter",)


def test_a_sidecar_index_with_a_bad_row_names_file_line_and_field(tmp_path):
    index = tmp_path / "index.csv"
    index.write_text("file,device_id,captured_at\na.jpg,cam1,2021-02-08T14:04:02\nb.jpg,,2021-02-08T14:34:02\n")
    with pytest.raises(SnapshotIndexError, match=r"index.csv: line 3: field 'device_id' is missing"):
        read_index(index)
    index.write_text(json.dumps([{"file": "a.jpg", "device_id": "cam1", "captured_at": "yesterday"}]))
    index = index.rename(tmp_path / "index.json")
    with pytest.raises(SnapshotIndexError, match=r"index.json: item 1: field 'captured_at' is not an ISO 8601"):
        read_index(index)


def test_landing_batches_learn_baselines_in_iceberg_and_explain_the_flagged_camera(settings):
    landing = LocalLanding(settings.paths.landing)
    folder = settings.paths.landing / "snapshots" / "site_export"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(8)
    frame = picture("potterws_20210212_181953")
    rows = ["file,device_id,captured_at"]
    for i in range(4):                  # names that say nothing: only the index says camera and time
        cv2.imwrite(str(folder / f"img{i:03d}.jpg"), sensor(view(frame), rng))
        rows.append(f"img{i:03d}.jpg,potter-ws,2021-02-12T18:{i * 10:02d}:00")
    (folder / "index.csv").write_text("\n".join(rows) + "\n")
    catalog = open_catalog(settings)
    first = diagnose_landing(catalog, landing, persist_references=False)
    assert len(first.new) == 4 and first.by_defect == {"正常 ok": 4} and first.baselines_written == 1
    stored = catalog.load_table(BASELINE_TABLE).scan().to_arrow().to_pylist()
    assert {r["measure"] for r in stored} == set(measures(Frame.of(view(frame))))
    assert {r["device_id"] for r in stored} == {"potter-ws"} and all(r["snapshots"] == 4 for r in stored)

    blurred = cv2.GaussianBlur(sensor(view(frame), rng), (0, 0), 3.5)
    cv2.imwrite(str(folder / "img100.jpg"), blurred)
    (folder / "index.csv").write_text("\n".join(rows + ["img100.jpg,potter-ws,2021-02-12T19:00:00"]) + "\n")
    second = diagnose_landing(catalog, landing, persist_references=False)
    assert second.new == ["snapshots/site_export/img100.jpg"] and second.by_defect == {"blur": 1}
    flag = next(f for f in second.flags if f.check == "blur")
    blur_normal = next(r["normal"] for r in stored if r["measure"] == "sharpness")
    assert flag.device_id == "potter-ws" and flag.normal == pytest.approx(blur_normal)
    assert flag.value < flag.limit < flag.normal and "sharpness" in flag.measure
    metadata = second.metadata()
    assert "| potter-ws | img100.jpg | blur 模糊/虚焦 |" in metadata["flagged"] and metadata["flagged_cameras"] == 1
    # A blurred snapshot does not teach the camera that blur is normal.
    again = catalog.load_table(BASELINE_TABLE).scan().to_arrow().to_pylist()
    assert all(r["snapshots"] == 4 for r in again)


def test_cli_accuracy_on_the_labelled_set_and_diagnose_json_explains_each_verdict(labelled, tmp_path):
    from safecity.orchestration.cli import app
    runner = CliRunner()
    result = runner.invoke(app, ["cameras", "accuracy", str(labelled), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["classes"]["jitter"]["f1"] >= 0.95 and figures["false_positive_rate"] <= 0.02
    good = sorted((labelled / "track").glob("baseline_*.jpg"))
    blurred = labelled / "track" / "blur_0.jpg"
    result = runner.invoke(app, ["cameras", "diagnose", str(blurred), "--json",
                                 *[arg for path in good for arg in ("--good", str(path))]])
    assert result.exit_code == 0, result.output
    blur = next(c for c in json.loads(result.output)["checks"] if c["check"] == "blur")
    assert blur["verdict"] == "defect" and blur["value"] < blur["limit"] < blur["normal"]
    assert blur["limit_kind"] == "camera_baseline" and "sharpness" in blur["measure"]


def test_a_camera_whose_scene_fails_the_absolute_limits_still_learns_its_baseline(tmp_path):
    # The glare-blinded Anchorage view has large flat areas: by the simulator's absolute limits it is occluded.
    # While learning, its snapshots teach the baseline; from then on the same view is normal for this camera.
    from safecity.ingestion.video_quality.batch import diagnose_files
    rng = np.random.default_rng(4)
    frame = picture("unknown")
    paths = []
    for i in range(5):
        path = tmp_path / f"shot{i}.jpg"
        cv2.imwrite(str(path), sensor(view(frame), rng))
        paths.append(path)
    when = {p: ("glare-cam", np.datetime64("2021-02-12T12:00") + i) for i, p in enumerate(paths)}
    index = {p: (d, t.astype("datetime64[s]").item()) for p, (d, t) in when.items()}
    book = BaselineBook(default_thresholds().baseline)
    verdicts = [item.diagnosis.defects for item in diagnose_files(paths, None, index=index, baselines=book)]
    assert "occlusion" in verdicts[0]                      # absolute limits, no baseline yet
    assert verdicts[-1] == () and book.baseline("glare-cam").snapshots == 5


def test_cli_diagnose_takes_the_first_good_snapshot_as_the_preset_reference(labelled):
    from safecity.orchestration.cli import app
    good = sorted((labelled / "hilton_20210211_124238").glob("baseline_*.jpg"))
    moved = labelled / "hilton_20210211_124238" / "ptz_failure_0.jpg"
    result = CliRunner().invoke(app, ["cameras", "diagnose", str(moved), "--json",
                                      *[arg for path in good for arg in ("--good", str(path))]])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    ptz = next(c for c in answer["checks"] if c["check"] == "ptz_failure")
    assert answer["defects"] == ["ptz_failure"] and ptz["value"] > ptz["limit"] == 24 and ptz["limit_kind"] == "absolute"
