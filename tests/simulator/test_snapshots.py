"""Camera snapshots: byte-identical for a seed, every VQD defect at its configured share, a manifest that matches
the files, and pictures that are what their label says, checked by simple measures written here independently of
the generator (grey mean, Laplacian variance, Lab cast factor, median-filter residual, flat blocks, spectrum, ORB
matches and edge overlap against the camera's reference)."""
import dataclasses
import datetime as dt
import json
import logging
import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from safecity.simulator import snapshots
from safecity.simulator.manifest import Manifest
from safecity.simulator.scale import SCALES
from safecity.simulator.snapshots import (CONDITIONS, DEFECTS, apply_defect, render_scene, write_snapshots)
from safecity.simulator.world import World

SEED = 20261126
DAY = dt.date(2026, 11, 26)
BAND = 0.08                     # rows of OSD text at the top and bottom, left out of structure measures


def cameras(n: int) -> list[dict]:
    return [{"device_id": f"13030200001320{i:06d}", "division": "130302"} for i in range(n)]


def run(out: Path, n: int, per_camera: int = 1, seed: int = SEED, workers: int | None = 1,
        order=lambda cams: cams) -> tuple[Manifest, dict]:
    world = World.load("qinhuangdao", seed)
    scale = dataclasses.replace(SCALES["small"], snapshots_per_camera=per_camera)
    manifest = Manifest(seed, "small", DAY.isoformat(), 1)
    counts = write_snapshots(world, scale, order(cameras(n)), out, manifest, DAY, workers=workers)
    return manifest, counts


# --- independent measures -------------------------------------------------------------------------------------

def grey(image):
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def inner(image):
    band = int(image.shape[0] * BAND) + 1
    return image[band:-band]


def grey_mean(image) -> float:
    return float(grey(image).mean())


def sharpness(image) -> float:
    return float(cv2.Laplacian(inner(grey(image)), cv2.CV_64F).var())


def cast_factor(image) -> float:
    """VQD's equivalent-circle cast factor K = D / M in Lab (on every other pixel)."""
    lab = cv2.cvtColor(image[::2, ::2], cv2.COLOR_BGR2LAB).astype(np.float32)
    a, b = lab[..., 1] - 128, lab[..., 2] - 128
    da, db = float(a.mean()), float(b.mean())
    spread = np.hypot(float(np.abs(a - da).mean()), float(np.abs(b - db).mean()))
    return float(np.hypot(da, db) / max(spread, 1e-6))


def snow(image) -> float:
    g = inner(grey(image))
    return float(np.abs(g.astype(int) - cv2.medianBlur(g, 3).astype(int)).mean())


def flat_share(image, block: int = 8) -> float:
    """Share of 8 x 8 blocks whose grey standard deviation is under 4."""
    g = inner(grey(image)).astype(np.float32)
    h, w = (s // block * block for s in g.shape)
    g = g[:h, :w]
    mean = cv2.resize(g, (w // block, h // block), interpolation=cv2.INTER_AREA)
    square = cv2.resize(g * g, (w // block, h // block), interpolation=cv2.INTER_AREA)
    return float((np.sqrt(np.maximum(square - mean * mean, 0)) < 4.0).mean())


def uniform_share(image) -> float:
    """Share of pixels within 12 levels (every channel) of the picture's median colour (on every other pixel)."""
    pixels = image[::2, ::2].reshape(-1, 3).astype(np.int16)
    median = np.median(pixels, axis=0)
    return float((np.abs(pixels - median).max(axis=1) <= 12).mean())


def spectral_peak(image) -> float:
    """Share of the picture's (windowed) energy in its strongest periodic component and its mirror."""
    g = inner(grey(image)).astype(np.float32)
    rows, cols = 1 << int(np.log2(g.shape[0])), 1 << int(np.log2(g.shape[1]))    # a fast transform size
    top, left = (g.shape[0] - rows) // 2, (g.shape[1] - cols) // 2
    g = g[top:top + rows, left:left + cols]
    g -= g.mean()
    window = np.outer(np.hanning(g.shape[0]), np.hanning(g.shape[1])).astype(np.float32)
    spectrum = cv2.dft(g * window, flags=cv2.DFT_COMPLEX_OUTPUT)
    energy = np.fft.fftshift(spectrum[..., 0] ** 2 + spectrum[..., 1] ** 2).astype(np.float64)
    h, w = energy.shape
    yy, xx = np.ogrid[:h, :w]
    energy[np.hypot((yy - h // 2) / h, (xx - w // 2) / w) < 0.02] = 0
    if energy.sum() == 0:
        return 0.0
    y, x = np.unravel_index(energy.argmax(), energy.shape)
    return float(2 * energy[max(0, y - 2):y + 3, max(0, x - 2):x + 3].sum() / energy.sum())


def orb_inliers(reference, image) -> int:
    orb = cv2.ORB_create(1000)
    ka, da = orb.detectAndCompute(inner(grey(reference)), None)
    kb, db = orb.detectAndCompute(inner(grey(image)), None)
    if da is None or db is None or len(da) < 2 or len(db) < 2:
        return 0
    good = [m for m in cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
            if len(m) == 2 and m[0].distance < 0.75 * m[1].distance]
    if len(good) < 4:
        return len(good)
    _, mask = cv2.findHomography(np.float32([ka[m[0].queryIdx].pt for m in good]),
                                 np.float32([kb[m[0].trainIdx].pt for m in good]), cv2.RANSAC, 4.0)
    return int(mask.sum()) if mask is not None else 0


def edge_overlap(reference, image) -> float:
    """Share of the picture's edges that lie on (near) an edge of the reference."""
    ref = cv2.Canny(cv2.GaussianBlur(inner(grey(reference)), (0, 0), 1.0), 40, 100)
    now = cv2.Canny(cv2.GaussianBlur(inner(grey(image)), (0, 0), 1.0), 40, 100)
    near = cv2.dilate(ref, np.ones((5, 5), np.uint8))
    return float((now[near > 0] > 0).sum() / max(1, (now > 0).sum()))


# --- one day of 400 scheduled snapshots ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def day(tmp_path_factory):
    out = tmp_path_factory.mktemp("snapshots")
    manifest, counts = run(out, 100, per_camera=4, workers=2)
    pictures = {rel: cv2.imread(str(out / rel)) for rel in manifest.files}
    return out, manifest, counts, pictures


def snapshot_entries(manifest):
    return {rel: e for rel, e in manifest.files.items() if e["kind"] == "snapshot"}


def reference_of(pictures, entry):
    return pictures[f"snapshots/reference/{entry['camera']}.jpg"]


def test_same_seed_gives_byte_identical_files_whatever_the_order_and_the_workers(tmp_path):
    first, _ = run(tmp_path / "a", 30, per_camera=2, workers=1)
    second, _ = run(tmp_path / "b", 30, per_camera=2, workers=2, order=lambda cams: cams[::-1])
    files = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*.jpg"))
    assert files == sorted(p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b").rglob("*.jpg"))
    assert len(files) >= 90
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert first.files == second.files
    key = lambda f: (f["file"], f["reason"])  # noqa: E731
    assert sorted(first.faults, key=key) == sorted(second.faults, key=key)


def test_another_seed_gives_other_pictures(tmp_path):
    run(tmp_path / "a", 3)
    run(tmp_path / "b", 3, seed=SEED + 1)
    a = {p.name: p.read_bytes() for p in (tmp_path / "a" / "snapshots" / "reference").iterdir()}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b" / "snapshots" / "reference").iterdir()}
    assert a.keys() == b.keys() and all(a[name] != b[name] for name in a)


def test_every_defect_class_at_the_configured_share(day):
    _, manifest, counts, _ = day
    share = World.load("qinhuangdao", SEED).faults.snapshots.defect
    entries = snapshot_entries(manifest)
    labels = Counter(e["label"] for e in entries.values())
    assert labels == {label: n for label, n in counts.items() if n}
    scheduled = len(entries) - labels["frozen"]      # each frozen snapshot brought the earlier one it repeats
    assert scheduled == 400
    defective = sum(labels[d] for d in DEFECTS)
    assert abs(defective / scheduled - share) <= 0.005
    for defect in DEFECTS:
        assert abs(labels[defect] - share * scheduled / len(DEFECTS)) <= 1, (defect, labels[defect])
    faults = Counter(f["reason"] for f in manifest.faults)
    assert faults == {d: labels[d] for d in DEFECTS}
    assert {f["kind"] for f in manifest.faults} == {"snapshot_defect"}


def test_frozen_snapshots_repeat_an_earlier_snapshot_of_the_same_camera_byte_for_byte(day):
    out, manifest, _, _ = day
    frozen = [f for f in manifest.faults if f["reason"] == "frozen"]
    assert frozen
    for fault in frozen:
        earlier = fault["same_as"]
        camera, time = re.fullmatch(r"snapshots/\d{8}/(\d{20})_(\d{6})\.jpg", fault["file"]).groups()
        earlier_camera, earlier_time = re.fullmatch(r"snapshots/\d{8}/(\d{20})_(\d{6})\.jpg", earlier).groups()
        assert camera == earlier_camera == fault["key"] and earlier_time < time
        assert (out / fault["file"]).read_bytes() == (out / earlier).read_bytes()
        assert manifest.files[earlier]["label"] == "clean"
    # Nothing else repeats: every other snapshot is a new picture.
    digests = Counter((out / rel).read_bytes() for rel in snapshot_entries(manifest))
    assert sum(n - 1 for n in digests.values()) == len(frozen)


def test_manifest_matches_the_files_on_disk(day):
    out, manifest, _, _ = day
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk == set(manifest.files)
    references = [rel for rel, e in manifest.files.items() if e["kind"] == "snapshot_reference"]
    assert sorted(references) == [f"snapshots/reference/{c['device_id']}.jpg" for c in cameras(100)]
    shows = {f["file"]: f["same_as"] for f in manifest.faults if f["reason"] == "frozen"}   # a frozen one shows
    for rel, entry in snapshot_entries(manifest).items():                                  # the earlier picture
        camera, _ = re.fullmatch(r"snapshots/20261126/(\d{20})_(\d{6})\.jpg", rel).groups()
        assert entry["camera"] == camera and entry["records"] == 1
        assert entry["label"] in ("clean",) + DEFECTS and entry["condition"] in CONDITIONS
        hour = int(shows.get(rel, rel)[-10:-8])
        assert (entry["condition"] == "night") == (hour >= 19 or hour < 6), rel
    for fault in manifest.faults:
        assert manifest.files[fault["file"]]["label"] == fault["reason"]
        assert manifest.files[fault["file"]]["camera"] == fault["key"]
    assert {e["condition"] for e in snapshot_entries(manifest).values()} == set(CONDITIONS)


def test_pictures_are_jpeg_of_the_scale_size(day):
    out, manifest, _, pictures = day
    for rel in manifest.files:
        assert (out / rel).read_bytes()[:3] == b"\xff\xd8\xff"
        assert pictures[rel].shape == (360, 640, 3)


def test_clean_pictures_look_healthy(day):
    _, manifest, _, pictures = day
    clean = [(pictures[rel], e) for rel, e in snapshot_entries(manifest).items() if e["label"] == "clean"]
    clean += [(pictures[rel], e) for rel, e in manifest.files.items() if e["kind"] == "snapshot_reference"]
    assert len(clean) > 400
    for n, (image, entry) in enumerate(clean):
        mean = grey_mean(image)
        assert 55 <= mean <= 180, entry                                  # not too dark (night too), not too bright
        if entry["condition"] == "night":
            assert mean < 95
        assert sharpness(image) > 200, entry
        assert cast_factor(image) < 1.0, entry
        assert snow(image) < 6, entry
        assert flat_share(image) < 0.42, entry
        assert spectral_peak(image) < 0.25, entry
        assert edge_overlap(reference_of(pictures, entry), image) > 0.6, entry
        if entry["condition"] != "night" and n % 3 == 0:                # (a third: ORB is the slow one)
            assert orb_inliers(reference_of(pictures, entry), image) >= 20, entry


def test_defective_pictures_are_what_their_label_says(day):
    _, manifest, _, pictures = day
    by_label: dict[str, list] = {}
    for rel, entry in snapshot_entries(manifest).items():
        by_label.setdefault(entry["label"], []).append((pictures[rel], reference_of(pictures, entry)))
    assert set(by_label) == {"clean", *DEFECTS}
    for image, reference in by_label["blur"]:
        assert sharpness(image) < 50 and sharpness(image) < 0.1 * sharpness(reference)
    for image, _ in by_label["too_dark"]:
        assert grey_mean(image) < 50
    for image, _ in by_label["too_bright"]:
        assert grey_mean(image) > 200
    for image, _ in by_label["colour_cast"]:
        assert cast_factor(image) > 2.0
    for image, _ in by_label["noise"]:
        assert snow(image) > 15
    for image, _ in by_label["occlusion"]:
        assert flat_share(image) >= 0.45 and uniform_share(image) >= 0.35
    for image, _ in by_label["signal_loss"]:
        assert uniform_share(image) > 0.97 and grey(image).std() < 10
    for image, reference in by_label["scene_change"]:
        assert orb_inliers(reference, image) < 10 and edge_overlap(reference, image) < 0.6
    for image, _ in by_label["stripes"]:
        assert spectral_peak(image) > 0.27


# --- the pieces on their own ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scenes():
    """Two views per condition, optical (no OSD), 640 x 360."""
    return [(condition, render_scene(np.random.default_rng(seed), 640, 360, condition, osd=False))
            for condition in CONDITIONS for seed in (1, 2)]


def test_render_scene_is_determined_by_the_rng_and_keeps_the_view_across_conditions():
    a = render_scene(np.random.default_rng(7), 640, 360, "day", when=dt.datetime(2026, 1, 1, 9))
    b = render_scene(np.random.default_rng(7), 640, 360, "day", when=dt.datetime(2026, 1, 1, 9))
    assert a.dtype == np.uint8 and a.shape == (360, 640, 3) and np.array_equal(a, b)
    other = render_scene(np.random.default_rng(8), 640, 360, "day", when=dt.datetime(2026, 1, 1, 9))
    rain = render_scene(np.random.default_rng(7), 640, 360, "rain", when=dt.datetime(2026, 1, 1, 9))
    assert edge_overlap(a, rain) > edge_overlap(a, other) + 0.15
    with pytest.raises(ValueError):
        render_scene(np.random.default_rng(7), 640, 360, "snow")


@pytest.mark.parametrize("defect", [d for d in DEFECTS if d not in ("frozen", "scene_change")])
def test_apply_defect_on_every_condition(scenes, defect):
    for seed, (condition, clean) in enumerate(scenes):
        image = apply_defect(clean, defect, np.random.default_rng(seed), condition=condition)
        assert image.shape == clean.shape and image.dtype == np.uint8
        if defect == "blur":
            assert sharpness(image) < 0.1 * sharpness(clean)
        elif defect == "too_dark":
            assert grey_mean(image) < 35 < grey_mean(clean)
        elif defect == "too_bright":
            assert grey_mean(image) > 210 > grey_mean(clean)
        elif defect == "colour_cast":
            assert cast_factor(image) > 2.0 > 1.0 > cast_factor(clean)
        elif defect == "noise":
            assert snow(image) > 15 > 6 > snow(clean)
        elif defect == "occlusion":
            assert flat_share(image) >= 0.45 > 0.42 > flat_share(clean)
        elif defect == "signal_loss":
            assert uniform_share(image) > 0.97
        elif defect == "stripes":
            assert spectral_peak(image) > 0.27 > 0.25 > spectral_peak(clean)


def test_frozen_returns_the_previous_picture_and_scene_change_another_view(scenes):
    (_, first), (_, second) = scenes[:2]
    assert np.array_equal(apply_defect(second, "frozen", np.random.default_rng(0), reference=first), first)
    with pytest.raises(ValueError):
        apply_defect(second, "frozen", np.random.default_rng(0))
    moved = apply_defect(first, "scene_change", np.random.default_rng(0), condition="day")
    assert moved.shape == first.shape
    assert edge_overlap(first, moved) < 0.6 and orb_inliers(first, moved) < 10
    with pytest.raises(ValueError):
        apply_defect(first, "smudge", np.random.default_rng(0))


def test_progress_is_logged_every_so_many_cameras(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(snapshots, "PROGRESS_EVERY", 4)
    with caplog.at_level(logging.INFO, logger="safecity.simulator.snapshots"):
        run(tmp_path, 10)
    lines = [r.getMessage() for r in caplog.records if r.name == "safecity.simulator.snapshots"]
    assert lines == ["snapshots 20261126: 4/10 cameras", "snapshots 20261126: 8/10 cameras",
                     "snapshots 20261126: 10/10 cameras"]


def test_day_may_be_given_as_text_and_the_json_manifest_is_written(tmp_path):
    world = World.load("qinhuangdao", SEED)
    manifest = Manifest(SEED, "small", "2026-11-26", 1)
    write_snapshots(world, SCALES["small"], cameras(2), tmp_path, manifest, "2026-11-26", workers=1)
    document = json.loads(manifest.write(tmp_path).read_text(encoding="utf-8"))
    assert all(rel.startswith(("snapshots/20261126/", "snapshots/reference/")) for rel in document["files"])
