"""The labelled set of real camera pictures for `safecity cameras accuracy`: real street frames and seeded degraded
copies of them, one per defect class.

Base: tests/data/real/snapshots, 12 stills of 7 Borealis Broadband street cameras in Anchorage (February 2021; day,
dusk, night, snowfall, haze, glare), copied from /work/shared/real-data/snapshots/anchorage_borealis at 640 x 480
(INTER_AREA, JPEG quality 90). unknown.jpg (sun glare, view blocked) is the set's natural defect and is kept out of
the clean frames.

Every clean frame is one camera. Its preset view is the frame's centre (488 x 364, a margin of 76 x 58 pixels left
for the camera to move into). For each camera the script writes, with numpy's PCG64 seeded by `seed` and the frame:

| label | how the picture is made |
|---|---|
| baseline (5) | the preset view, gain 0.96–1.04, sensor noise σ 0.8–1.5, JPEG quality 85–95: the recent good snapshots |
| clean (3) | the same, other draws |
| signal_loss | a blue (0, 0, 255) or black screen with a white "NO SIGNAL / 无信号" text, no noise |
| frozen | the camera's previous snapshot (its last baseline file), byte for byte |
| too_dark | gain 0.12–0.22 |
| too_bright | overexposure: 255 − (255 − x) × 0.12–0.22 |
| low_contrast | x̄ + (x − x̄) × 0.22–0.32 (fog on the dome, a washed-out sensor) |
| noise | Gaussian noise σ 25 (the issue's worn sensor) or σ 18–25 |
| stripes | a sinusoid of amplitude 20–30, period 6–16 pixels, horizontal, vertical or slanted |
| colour_cast | channel gains of a red, green, blue or yellow cast (one channel × 1.3–1.45, another × 0.55–0.7) |
| blur | Gaussian blur σ 2.5–4 pixels (defocus) |
| occlusion | a dark, defocused blob (ellipse, blurred σ 12) over 35–55 % of the view |
| ptz_failure | the view 55–75 pixels off the preset in a random direction (the preset not reached) |
| jitter | the view 8–14 pixels off the previous snapshot in a random direction (a shaking pole) |
| scene_change | another camera's preset view |

Two copies per class and camera (different draws); every picture but the frozen copy and signal loss gets the
clean sensor noise and JPEG after its defect. Three more clean rows pair frames of one real camera taken at other
times (alaskacam → track, fourthavenue → snowslush, potterws → ice): real consecutive snapshots, for frozen and
jitter on what really changes between two snapshots. The sidecar index labels.csv lists file, device_id,
captured_at, label and previous (the camera's snapshot before it).

    python -m tests.ingestion.real_snapshot_set OUT_DIR [--seed 17]
"""
import argparse
import csv
import datetime as dt
import zlib
from pathlib import Path

import cv2
import numpy as np

SOURCE = Path(__file__).resolve().parents[1] / "data" / "real" / "snapshots"
NATURAL_DEFECT = "unknown"
PAIRS = (("alaskacam_20210208_140402", "track"), ("fourthavenue_20210208_170921", "snowslush"),
         ("potterws_20210212_181953", "ice"))
VIEW = (488, 364)               # preset view (width, height) inside the 640 x 480 frame
MARGIN = (76, 58)
BASELINE, CLEAN, COPIES = 5, 3, 2
CLASSES = ("signal_loss", "frozen", "too_dark", "too_bright", "low_contrast", "noise", "stripes", "colour_cast",
           "blur", "occlusion", "ptz_failure", "jitter", "scene_change")
START = dt.datetime(2021, 2, 8, 8, 0)


def view(frame: np.ndarray, dx: int = 0, dy: int = 0) -> np.ndarray:
    x, y = MARGIN[0] + dx, MARGIN[1] + dy
    return frame[y:y + VIEW[1], x:x + VIEW[0]].copy()


def _moved(frame: np.ndarray, rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(low, high)
    dx = int(np.clip(round(length * np.cos(angle)), -MARGIN[0], MARGIN[0]))
    dy = int(np.clip(round(length * np.sin(angle)), -MARGIN[1], MARGIN[1]))
    return view(frame, dx, dy)


def sensor(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A good snapshot's variation: a little gain and sensor noise."""
    out = picture.astype(np.float32) * rng.uniform(0.96, 1.04) + rng.normal(0, rng.uniform(0.8, 1.5), picture.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def _stripes(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = picture.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.choice([0.0, np.pi / 2, rng.uniform(0.3, 1.2)])
    wave = rng.uniform(20, 30) * np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / rng.uniform(6, 16))
    return np.clip(picture.astype(np.float32) + wave[..., None], 0, 255).astype(np.uint8)


def _cast(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    up, down = {"red": (2, 0), "green": (1, 2), "blue": (0, 2), "yellow": (2, 0)}[
        rng.choice(["red", "green", "blue", "yellow"])]
    gains = np.ones(3, np.float32)
    gains[up], gains[down] = rng.uniform(1.3, 1.45), rng.uniform(0.55, 0.7)
    return np.clip(picture.astype(np.float32) * gains, 0, 255).astype(np.uint8)


def _occluded(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = picture.shape[:2]
    share = rng.uniform(0.35, 0.55)
    axes = (int(w * np.sqrt(share / np.pi)), int(h * np.sqrt(share / np.pi)))     # pi a b = share w h
    centre = (int(rng.uniform(0.3, 0.7) * w), int(rng.uniform(0.3, 0.7) * h))
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 12)[..., None]
    colour = np.array(rng.uniform(25, 70, 3), np.float32)
    return (picture * (1 - mask) + colour * mask).astype(np.uint8)


def degrade(label: str, frame: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The preset view of `frame` (or `other`, another camera's frame) with the defect `label`."""
    picture = view(frame).astype(np.float32)
    if label == "signal_loss":
        screen = np.zeros((VIEW[1], VIEW[0], 3), np.uint8)
        screen[:] = (255, 0, 0) if rng.random() < 0.5 else (0, 0, 0)
        cv2.putText(screen, "NO SIGNAL", (150, 190), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
        return screen
    if label == "too_dark":
        out = picture * rng.uniform(0.12, 0.22)
    elif label == "too_bright":
        out = 255 - (255 - picture) * rng.uniform(0.12, 0.22)
    elif label == "low_contrast":
        out = picture.mean() + (picture - picture.mean()) * rng.uniform(0.22, 0.32)
    elif label == "noise":
        out = picture + rng.normal(0, 25 if rng.random() < 0.5 else rng.uniform(18, 25), picture.shape)
    elif label == "blur":
        out = cv2.GaussianBlur(picture, (0, 0), rng.uniform(2.5, 4.0))
    elif label == "ptz_failure":
        out = _moved(frame, rng, 55, 75)
    elif label == "jitter":
        out = _moved(frame, rng, 8, 14)
    elif label == "scene_change":
        out = view(other)
    else:
        out = {"stripes": _stripes, "colour_cast": _cast, "occlusion": _occluded}[label](
            picture.astype(np.uint8), rng)
    return sensor(np.clip(out, 0, 255).astype(np.uint8), rng)


def _jpeg(path: Path, picture: np.ndarray, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(85, 96))])
    assert ok, path
    path.write_bytes(data.tobytes())


def make_set(out: str | Path, seed: int = 17) -> Path:
    """Write the labelled set into `out` (pictures in one folder per camera, labels.csv); returns labels.csv."""
    out = Path(out)
    frames = {p.stem: cv2.imread(str(p)) for p in sorted(SOURCE.glob("*.jpg"))}
    cameras = [name for name in frames if name != NATURAL_DEFECT]
    shared = {a: b for pair in PAIRS for a, b in (pair, pair[::-1])}
    rows = []
    for number, device in enumerate(cameras):
        rng = np.random.Generator(np.random.PCG64([seed, zlib.crc32(device.encode())]))
        when = START + dt.timedelta(days=number)
        previous = None
        for i in range(BASELINE):
            name = f"{device}/baseline_{i}.jpg"
            _jpeg(out / name, sensor(view(frames[device]), rng), rng)
            rows.append((name, device, when + dt.timedelta(minutes=30 * i), "baseline", previous))
            previous = name
        tests = [("clean", i) for i in range(CLEAN)] + [(c, i) for c in CLASSES for i in range(COPIES)]
        others = [c for c in cameras if c != device and c != shared.get(device)]
        for j, (label, i) in enumerate(tests):
            name = f"{device}/{label}_{i}.jpg"
            if label == "frozen":
                (out / name).write_bytes((out / previous).read_bytes())
            else:
                other = frames[others[int(rng.integers(len(others)))]]
                picture = sensor(view(frames[device]), rng) if label == "clean" else \
                    degrade(label, frames[device], other, rng)
                _jpeg(out / name, picture, rng)
            rows.append((name, device, when + dt.timedelta(hours=3, minutes=j), label, previous))
    rows += _pairs(out, frames, seed)
    _jpeg(out / f"{NATURAL_DEFECT}/{NATURAL_DEFECT}.jpg", view(frames[NATURAL_DEFECT]), np.random.default_rng(seed))
    rows.append((f"{NATURAL_DEFECT}/{NATURAL_DEFECT}.jpg", NATURAL_DEFECT, START, "natural_defect", None))
    with open(out / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "device_id", "captured_at", "label", "previous"])
        for name, device, when, label, previous in rows:
            writer.writerow([name, device, when.isoformat(), label, previous or ""])
    return out / "labels.csv"


def _pairs(out: Path, frames: dict, seed: int) -> list[tuple]:
    """Clean rows whose previous snapshot is the same real camera at another time."""
    rng = np.random.default_rng(seed)
    rows = []
    for earlier, later in PAIRS:
        name = f"{later}/after_{earlier}.jpg"
        _jpeg(out / name, sensor(view(frames[later]), rng), rng)
        before = f"{later}/before_{earlier}.jpg"
        _jpeg(out / before, sensor(view(frames[earlier]), rng), rng)
        rows.append((name, later, START + dt.timedelta(days=30), "clean", before))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    print(make_set(args.out, args.seed))
