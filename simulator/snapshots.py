"""Camera snapshots: synthetic street scenes as the platform's 巡检 (patrol inspection) would sample them, with the
video-quality defects of the VQD items (standards-facts.md §8, code table `vqd_item`) injected and labelled.

A camera sees a street in perspective: sky, a far skyline, buildings with window grids and shop signs along both
sides, road with lane markings, pavements, street lamps, trees, an overhead direction sign and vehicles. The view
is drawn in world units (metres) through a pinhole camera, so every camera has a plausible, different scene with
real edges; what it sees is fixed per camera (its reference frame), the traffic changes between snapshots.

The camera also does what real cameras do: grey-world white balance and auto exposure towards a brightness
typical of the condition (day, night, rain, haze), sensor grain, and a burned-in OSD (timestamp top left,
channel name bottom right). The OSD lives only in the top and bottom `OSD_BAND` of the picture's height, so a
diagnoser can leave those rows out of the measures that text would disturb (blur, scene matching).

Defects (identifiers are the `vqd_item` codes; `low_contrast`, `jitter` and `ptz_failure` are not generated). The
optical ones are made before the OSD is burned in (the OSD stays sharp and legible), the others over it:

| defect | how it is made | clean pictures, for contrast |
|---|---|---|
| blur | defocus disc (radius 1–1.8 % of the width) or Gaussian; Laplacian variance < 25 | > 250 |
| too_dark | exposure cut to a grey mean of 8–28 (+ OSD) | night ≥ 62 |
| too_bright | overexposure, highlights clipped, grey mean ≥ 215 | haze ≤ 172 |
| colour_cast | Lab: chroma halved, shifted towards one hue; cast factor K ≥ ~2.3 (mostly ≥ 3) | K ≤ 0.6 |
| noise | snow over the OSD: Gaussian σ 28–42 plus white/black flakes on 4–8 % of pixels | grain σ ≈ 2–2.6 |
| occlusion | a near-uniform, out-of-focus grey cover (cloth, bag, dust, sticker) over 45–75 % of the view | — |
| signal_loss | the recorder's blue or black screen, often with a small "NO SIGNAL"/"VIDEO LOSS" text | — |
| frozen | the camera's previous picture, byte for byte (written too, under an earlier time) | — |
| scene_change | the camera knocked or turned: another street, rolled 8–30°, wide, some tilted down | same view |
| stripes | sinusoidal bands over the OSD, horizontal, vertical or slanted, amplitude 32–50 (dark: more) | — |

Measured against the camera's day reference (tests/simulator/test_snapshots.py): ORB+RANSAC inliers are ≥ 20
(mostly hundreds) for clean day, rain and haze pictures and < 10 for scene_change, but a clean night picture can
also fall to a few (lamp posts, lit shop fronts and the sky change polarity); the share of the picture's Canny
edges lying near reference edges stays ≥ 0.6 for every clean picture and < 0.6 for scene_change. A diagnoser
should compare structure, not only descriptors, at night.
"""
from __future__ import annotations

import logging
import math
import multiprocessing
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)

DEFECTS = ("blur", "too_dark", "too_bright", "colour_cast", "noise", "occlusion", "signal_loss", "frozen",
           "scene_change", "stripes")
CONDITIONS = ("day", "night", "rain", "haze")
OSD_BAND = 0.08                 # the top and bottom 8 % of rows may hold burned-in OSD text
JPEG_QUALITY = 90
NIGHT_FROM_HOUR, NIGHT_UNTIL_HOUR = 19, 6
# Brightness the camera's auto exposure aims at (grey mean of the picture), per condition.
EXPOSURE_TARGET = {"day": (108.0, 145.0), "night": (62.0, 84.0), "rain": (88.0, 118.0), "haze": (148.0, 172.0)}
# Share of a day's cameras that see rain or haze (one regime drawn per day).
RAIN_SHARES = (0.05, 0.12, 0.30)
HAZE_SHARES = (0.05, 0.12, 0.30)
PROGRESS_EVERY = 1_000
PARALLEL_FROM_CAMERAS = 200     # fewer cameras than this render in-process (not worth starting workers)
MAX_WORKERS = 8

_OPTICAL = {"blur", "too_dark", "too_bright", "colour_cast", "occlusion", "scene_change"}
_TRANSMISSION = {"noise", "stripes"}
_SHIFT = 4                      # sub-pixel bits for cv2 polygon drawing
_ONE = 1 << _SHIFT
_SIGN_WORDS = ("HEBEI DAJIE", "WENHUA LU", "YINGBIN LU", "HAIGANG", "BEIDAIHE", "SHANHAIGUAN", "JIANSHE DAJIE",
               "MINZU LU", "QINHUANGDAO STN", "HAIBIN LU", "LIANFENG LU", "G1 JINGHA", "CHANGLI", "FUNING",
               "LULONG", "QINGLONG", "NANDAIHE", "AIRPORT", "PORT AREA", "CITY CENTRE")


# ---------------------------------------------------------------------------------------------------------------
# Geometry of one camera's view
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class _Optics:
    w: int
    h: int
    f: float                    # focal length in pixels
    xv: float                   # vanishing point of the street
    yh: float                   # horizon row
    height: float               # camera height above the road, metres

    def xy(self, X, Y, Z):
        """Screen position of world points (X right, Y up, Z ahead, metres) as float arrays."""
        Z = np.maximum(Z, 0.2)
        return self.xv + self.f * X / Z, self.yh + self.f * (self.height - Y) / Z

    def quads(self, corners: np.ndarray) -> np.ndarray:
        """Fixed-point (shift=_SHIFT) int32 polygons (n, k, 2) for cv2 from world corners shaped (n, k, 3)."""
        Z = np.maximum(corners[..., 2], 0.2)
        pts = np.empty(corners.shape[:-1] + (2,), np.float64)
        pts[..., 0] = self.xv + self.f * corners[..., 0] / Z
        pts[..., 1] = self.yh + self.f * (self.height - corners[..., 1]) / Z
        limit = 4 * max(self.w, self.h)
        np.clip(pts, -limit, limit, out=pts)
        pts *= _ONE
        return np.rint(pts).astype(np.int32)

    def z_near(self) -> float:
        return self.f * self.height / (self.h - self.yh)


@dataclass
class _Block:
    side: int                   # -1 left, +1 right
    X: float                    # wall plane
    za: float
    zb: float
    height: float
    colour: tuple
    floor_h: float
    win_step: float
    win_w: float
    win_h: float
    storefront: bool
    sign_colour: tuple
    glass: tuple


@dataclass
class _Layout:
    optics: _Optics
    road_left: float
    road_right: float
    lanes: int
    lane_w: float
    two_way: bool
    walk_w: float
    road_colour: tuple
    walk_colour: tuple
    sky_top: tuple
    sky_horizon: tuple
    skyline: list = field(default_factory=list)     # (x0, x1, height, colour, window rows)
    blocks: list = field(default_factory=list)
    lamps: list = field(default_factory=list)       # (X, Z, height, arm)
    trees: list = field(default_factory=list)       # (X, Z, trunk height, crown radius, colour)
    patches: list = field(default_factory=list)     # road repairs (X0, X1, Z0, Z1, shade)
    zebra: float | None = None
    gantry: tuple | None = None                     # (Z, X0, X1, bottom, top, lines)
    sun_side: int = 1
    seed: int = 0


def _colour(rng, base, spread) -> tuple:
    return tuple(float(np.clip(c + rng.normal(0, spread), 0, 255)) for c in base)


_WALLS = ((170, 178, 185), (150, 160, 170), (120, 135, 160), (185, 185, 180), (95, 105, 140), (200, 200, 198),
          (140, 150, 155), (110, 120, 130), (165, 190, 205), (80, 90, 110))
_GLASS = ((80, 70, 60), (110, 100, 90), (60, 60, 58), (130, 120, 100))
_SIGNS = ((40, 40, 180), (170, 90, 20), (40, 150, 40), (30, 180, 220), (200, 200, 200), (30, 30, 30), (20, 110, 200))
_CARS = ((235, 235, 232), (235, 235, 232), (190, 190, 186), (40, 40, 42), (40, 40, 42), (125, 125, 122),
         (40, 40, 170), (140, 80, 30), (60, 90, 40), (160, 160, 150), (50, 130, 200))


def _layout(rng: np.random.Generator, w: int, h: int) -> _Layout:
    """The static view of one camera: every draw here happens whatever the condition, in the same order."""
    f = w * rng.uniform(0.72, 1.05)
    optics = _Optics(w, h, f, xv=w * rng.uniform(0.35, 0.65), yh=h * rng.uniform(0.28, 0.42),
                     height=rng.uniform(5.0, 9.0))
    lanes = int(rng.choice([2, 3, 4, 4, 6, 6, 8]))
    lane_w = rng.uniform(3.2, 3.75)
    width = lanes * lane_w
    left = -rng.uniform(0.15, 0.85) * width
    walk_w = rng.uniform(3.0, 6.0)
    layout = _Layout(optics, road_left=left, road_right=left + width, lanes=lanes, lane_w=lane_w,
                     two_way=bool(lanes >= 4 or rng.random() < 0.5), walk_w=walk_w,
                     road_colour=_colour(rng, (88, 88, 90), 8), walk_colour=_colour(rng, (150, 160, 168), 10),
                     sky_top=_colour(rng, (205, 175, 140), 10), sky_horizon=_colour(rng, (225, 215, 205), 6),
                     sun_side=int(rng.choice([-1, 1])), seed=int(rng.integers(1 << 31)))
    # Far skyline across the end of the street.
    x = -rng.uniform(300, 500)
    while x < 500:
        width_b = rng.uniform(15, 60)
        layout.skyline.append((x, x + width_b, rng.uniform(8, 90), _colour(rng, _WALLS[rng.integers(len(_WALLS))], 15),
                               bool(rng.random() < 0.7)))
        x += width_b + rng.uniform(-5, 15)
    # Building blocks along both sides.
    z_near = optics.z_near()
    for side in (-1, 1):
        X = (left - walk_w) if side < 0 else (left + width + walk_w)
        z = z_near * rng.uniform(0.15, 0.4)           # the first block starts beside the camera
        while z < 320:
            length = rng.uniform(15, 70)
            if z > 40 and rng.random() < 0.15:         # a side street (not right in front: a huge bare end wall)
                z += rng.uniform(10, 25)
                continue
            layout.blocks.append(_Block(
                side=side, X=X, za=z, zb=z + length,
                height=float(rng.choice([rng.uniform(6, 14), rng.uniform(14, 36), rng.uniform(36, 75)],
                                        p=[0.3, 0.45, 0.25])),
                colour=_colour(rng, _WALLS[rng.integers(len(_WALLS))], 12), floor_h=rng.uniform(2.9, 3.4),
                win_step=rng.uniform(2.6, 4.5), win_w=rng.uniform(1.1, 2.0), win_h=rng.uniform(1.3, 1.9),
                storefront=bool(rng.random() < 0.75), sign_colour=_SIGNS[rng.integers(len(_SIGNS))],
                glass=_GLASS[rng.integers(len(_GLASS))]))
            z += length
    # Street furniture.
    spacing = rng.uniform(25, 40)
    for side in (-1, 1):
        X = (left - 0.6) if side < 0 else (left + width + 0.6)
        z = z_near * rng.uniform(0.6, 1.5)
        while z < 300:
            layout.lamps.append((X, z, rng.uniform(8, 11), -side * rng.uniform(1.0, 2.5)))
            if rng.random() < 0.7:
                tz = z + spacing * rng.uniform(0.3, 0.7)
                layout.trees.append((X - side * rng.uniform(0.3, 1.5), tz, rng.uniform(2.0, 3.2), rng.uniform(1.6, 3.0),
                                     _colour(rng, (45, 95, 60), 12)))
            z += spacing * rng.uniform(0.9, 1.1)
    for _ in range(int(rng.integers(2, 7))):
        x0 = rng.uniform(left, left + width - 2)
        z0 = rng.uniform(z_near, 80)
        layout.patches.append((x0, x0 + rng.uniform(0.8, 4), z0, z0 + rng.uniform(1, 8), rng.uniform(-18, 12)))
    if rng.random() < 0.45:
        layout.zebra = z_near * rng.uniform(1.1, 2.5)
    if rng.random() < 0.6:
        gz = rng.uniform(30, 80)
        words = [str(_SIGN_WORDS[i]) for i in rng.choice(len(_SIGN_WORDS), size=3, replace=False)]
        lines = [f"{words[0]}  {int(rng.integers(1, 30))} km", f"<- {words[1]}", f"{words[2]} ->"]
        layout.gantry = (gz, left + rng.uniform(0.5, 2), left + width * rng.uniform(0.5, 0.95), rng.uniform(5.5, 6.5),
                         rng.uniform(8.0, 9.5), lines)
    return layout


# ---------------------------------------------------------------------------------------------------------------
# Painting
# ---------------------------------------------------------------------------------------------------------------

_FAR = 255                      # depth code of the background (sky, ground, buildings): behind every vehicle


def _depth_code(z: float) -> int:
    """Depth of a street object or vehicle, coded in a byte (2 % steps): smaller is nearer."""
    return int(min(254, max(0, round(46.0 * math.log1p(max(z, 0.0))))))


class _Canvas:
    """The picture (albedo) and, drawn with the same shapes, `aux`: what emits light at night (0..255: lit
    windows, lamps, vehicle lights), how textured a surface is (percent of its brightness) and the depth code of
    street objects (so a vehicle drawn later can be put behind a nearer lamp post or tree)."""

    def __init__(self, optics: _Optics, img: np.ndarray, aux: np.ndarray, lights: list):
        self.o = optics
        self.img = img
        self.aux = aux
        self.lights = lights            # (x, y, radius px, strength, pool on the ground or bloom)

    @classmethod
    def blank(cls, optics: _Optics) -> "_Canvas":
        aux = np.empty((optics.h, optics.w, 3), np.uint8)
        cv2.rectangle(aux, (0, 0), (optics.w, optics.h), (0, 0, _FAR), -1)
        return cls(optics, np.empty((optics.h, optics.w, 3), np.uint8), aux, [])

    def copy(self) -> "_Canvas":
        return _Canvas(self.o, self.img.copy(), self.aux.copy(), list(self.lights))

    def polys(self, polys, colour, glow: int = 0, tex: int = 2, depth: int = _FAR, aux: bool = True) -> None:
        """Fill polygons; `aux=False` for small details that need no glow, texture or depth of their own."""
        if not len(polys):
            return
        cv2.fillPoly(self.img, polys, colour, cv2.LINE_AA, _SHIFT)
        if aux:
            cv2.fillPoly(self.aux, polys, (glow, tex, depth), cv2.LINE_8, _SHIFT)

    def world(self, corners, colour, glow: int = 0, tex: int = 2, depth: int = _FAR, aux: bool = True) -> None:
        """Fill one polygon given as a list of world points, or many as an (n, k, 3) array."""
        if isinstance(corners, np.ndarray):
            polys = self.o.quads(corners)
        else:                                   # one small polygon: plain arithmetic beats numpy's overhead
            o = self.o
            limit = 4 * max(o.w, o.h)
            pts = []
            for X, Y, Z in corners:
                Z = max(Z, 0.2)
                x = min(max(o.xv + o.f * X / Z, -limit), limit)
                y = min(max(o.yh + o.f * (o.height - Y) / Z, -limit), limit)
                pts.append((round(x * _ONE), round(y * _ONE)))
            polys = np.array([pts], np.int32)
        self.polys(polys, colour, glow, tex, depth, aux)

    def line(self, p0, p1, colour, thickness: float, glow: int = 0, tex: int = 2, depth: int = _FAR) -> None:
        (x0, y0), (x1, y1) = (self.o.xy(*p0), self.o.xy(*p1))
        t = max(1, int(round(thickness)))
        a = (int(round(float(x0) * _ONE)), int(round(float(y0) * _ONE)))
        b = (int(round(float(x1) * _ONE)), int(round(float(y1) * _ONE)))
        cv2.line(self.img, a, b, colour, t, cv2.LINE_AA, _SHIFT)
        cv2.line(self.aux, a, b, (glow, tex, depth), t, cv2.LINE_8, _SHIFT)

    def ellipse(self, centre, axes, colour, glow: int = 0, tex: int = 2, depth: int = _FAR, aux: bool = True) -> None:
        c = (int(round(centre[0] * _ONE)), int(round(centre[1] * _ONE)))
        ax = (max(1, int(round(axes[0] * _ONE))), max(1, int(round(axes[1] * _ONE))))
        cv2.ellipse(self.img, c, ax, 0, 0, 360, colour, -1, cv2.LINE_AA, _SHIFT)
        if aux:
            cv2.ellipse(self.aux, c, ax, 0, 0, 360, (glow, tex, depth), -1, cv2.LINE_8, _SHIFT)


def _box(x0, x1, y0, y1, z0, z1):
    """Corners of the axis-aligned faces of a box seen from the camera: (rear, top, left side, right side)."""
    rear = [(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0)]
    top = [(x0, y1, z0), (x1, y1, z0), (x1, y1, z1), (x0, y1, z1)]
    left = [(x0, y0, z0), (x0, y1, z0), (x0, y1, z1), (x0, y0, z1)]
    right = [(x1, y0, z0), (x1, y1, z0), (x1, y1, z1), (x1, y0, z1)]
    return rear, top, left, right


def _shade(colour, k) -> tuple:
    return tuple(float(min(255.0, c * k)) for c in colour)


def _quad_stack(a, b, c, d) -> np.ndarray:
    """(n, 4, 3) corners from four (n, 3) corner arrays."""
    return np.stack([a, b, c, d], axis=1)


def _paint_sky(c: _Canvas, L: _Layout, condition: str) -> None:
    o = c.o
    top, horizon = L.sky_top, L.sky_horizon
    if condition == "night":
        top, horizon = (32, 22, 16), (58, 56, 62)
    elif condition == "rain":
        top, horizon = (150, 148, 145), (175, 175, 172)
    elif condition == "haze":
        top, horizon = (200, 205, 208), (215, 218, 220)
    rows = min(o.h, max(1, int(o.yh) + 2))             # the ground covers the rest
    t = np.clip(np.arange(rows, dtype=np.float32) / max(1.0, o.yh), 0, 1)[:, None]
    col = (np.array(top, np.float32)[None] * (1 - t) + np.array(horizon, np.float32)[None] * t)
    c.img[:rows] = cv2.resize(col.astype(np.uint8)[:, None, :], (o.w, rows), interpolation=cv2.INTER_NEAREST)


def _paint_skyline(c: _Canvas, L: _Layout, rng: np.random.Generator, condition: str) -> None:
    """Far buildings across the end of the street, faded by distance, with a grid of small windows (frontal and
    axis-aligned, so painted as a pattern rather than as thousands of tiny polygons)."""
    night = condition == "night"
    o = c.o
    Z = 450.0
    scale = o.f / Z                                     # pixels per metre at the skyline
    for x0, x1, height, colour, with_windows in L.skyline:
        col = _shade(colour, 0.22) if night else tuple(cc * 0.45 + s * 0.55 for cc, s in zip(colour, L.sky_horizon))
        c.world([(x0, 0, Z), (x1, 0, Z), (x1, height, Z), (x0, height, Z)], col)
        # Windows drawn whatever the condition (keeps the stream aligned); shown if at least a pixel tall.
        lit_seed = int(rng.integers(1 << 30))
        if not with_windows or scale * 1.6 < 1.0:
            continue
        left, top = o.xy(x0, height - 1.5, Z)
        right, bottom = o.xy(x1, 3.5, Z)
        cl, cr = max(0, int(math.ceil(left))), min(o.w, int(right))
        rt, rb = max(0, int(math.ceil(top))), min(o.h, int(bottom))
        if cr <= cl or rb <= rt:
            continue
        xs = (np.arange(cl, cr) - left) / scale          # metres from the building's left edge
        ys = (bottom - np.arange(rt, rb)) / scale         # metres above the first window row
        in_x = (xs % 3.5) < 1.6
        in_y = (ys % 3.2) < 1.6
        cells = np.outer(in_y, in_x)
        if not cells.any():
            continue
        region = c.img[rt:rb, cl:cr]
        if night:
            lit_rng = np.random.default_rng(lit_seed)
            lit = lit_rng.random((int(ys.max() // 3.2) + 2, int(xs.max() // 3.5) + 2)) < 0.4
            on = lit[(ys // 3.2).astype(int)][:, (xs // 3.5).astype(int)] & cells
            region[cells & ~on] = (20, 20, 24)
            region[on] = (140, 195, 230)
            c.aux[rt:rb, cl:cr, 0][on] = 255
        else:
            region[cells] = _shade(L.sky_horizon, 0.8 if condition == "haze" else 0.62)


def _paint_ground(c: _Canvas, L: _Layout, condition: str) -> None:
    o = c.o
    zn, zf = o.z_near() * 0.8, 2000.0
    wet = condition == "rain"
    road = _shade(L.road_colour, 0.72 if wet else 1.0)
    walk = _shade(L.walk_colour, 0.8 if wet else 1.0)
    y0 = int(o.yh)
    cv2.rectangle(c.img, (0, y0), (o.w, o.h), walk, -1)
    cv2.rectangle(c.aux, (0, y0), (o.w, o.h), (0, 6, _FAR), -1)
    lx, rx = L.road_left, L.road_right
    c.world([(lx, 0, zn), (rx, 0, zn), (rx, 0, zf), (lx, 0, zf)], road, tex=8)
    joint = _shade(walk, 0.82)
    for side in (-1, 1):
        # Pavement tiles: joints along the street and across it, near the camera only.
        edge = lx if side < 0 else rx
        xs = edge + side * np.arange(0.6, L.walk_w + 0.01, 0.6)
        zero = np.zeros_like(xs)
        c.polys(o.quads(_quad_stack(np.stack([xs - 0.03, zero, zero + zn], -1),
                                    np.stack([xs + 0.03, zero, zero + zn], -1),
                                    np.stack([xs + 0.03, zero, zero + 60.0], -1),
                                    np.stack([xs - 0.03, zero, zero + 60.0], -1))),
                joint, tex=6)
        zs = np.arange(zn, 40.0, 0.6)
        zero = np.zeros_like(zs)
        x_out = edge + side * L.walk_w
        c.polys(o.quads(_quad_stack(np.stack([zero + x_out, zero, zs], -1), np.stack([zero + edge, zero, zs], -1),
                                    np.stack([zero + edge, zero, zs + 0.06], -1),
                                    np.stack([zero + x_out, zero, zs + 0.06], -1))),
                joint, tex=6)
        c.world([(edge, 0, zn), (edge, 0.15, zn), (edge, 0.15, zf), (edge, 0, zf)], _shade(walk, 1.12))   # kerb
    for x0, x1, z0, z1, shade in L.patches:
        c.world([(x0, 0, z0), (x1, 0, z0), (x1, 0, z1), (x0, 0, z1)],
                tuple(float(np.clip(v + shade, 0, 255)) for v in road), tex=6)
    # Lane markings: solid edges, dashed lane lines, a double yellow centre line on two-way roads.
    white = (225, 228, 228) if not wet else (185, 188, 188)
    yellow = (40, 180, 215) if not wet else (40, 150, 180)

    def strips(x, z0, z1, width=0.15):
        x, z0, z1 = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (x, z0, z1)))
        zero = np.zeros_like(x)
        return _quad_stack(np.stack([x - width / 2, zero, z0], -1), np.stack([x + width / 2, zero, z0], -1),
                           np.stack([x + width / 2, zero, z1], -1), np.stack([x - width / 2, zero, z1], -1))

    c.world(strips(np.array([lx + 0.25, rx - 0.25]), zn, zf), white)
    centre = L.lanes // 2 if L.two_way else None
    dash_z = np.arange(zn - (zn % 10), 400, 10.0)
    for k in range(1, L.lanes):
        x = lx + k * L.lane_w
        if k == centre:
            c.world(strips(np.array([x - 0.12, x + 0.12]), zn, zf), yellow)
        else:
            c.world(strips(x, dash_z, dash_z + 4.0), white)
    if L.zebra is not None:
        xs = np.arange(lx + 0.5, rx - 0.5, 1.0) + 0.25
        z0 = L.zebra
        c.world(strips(xs, z0, z0 + 4.0, 0.5), white)
        c.world(strips((lx + rx) / 2, z0 + 5.5, z0 + 5.9, rx - lx), white)       # stop line


def _window_quads(X: float, ys: np.ndarray, zs: np.ndarray, width: float, height: float) -> np.ndarray:
    """World corners (n, 4, 3) of rectangles on the wall plane X, lower near corners at (ys, zs)."""
    Xs = np.full_like(ys, X)
    return _quad_stack(np.stack([Xs, ys, zs], -1), np.stack([Xs, ys, zs + width], -1),
                       np.stack([Xs, ys + height, zs + width], -1), np.stack([Xs, ys + height, zs], -1))


def _on_screen(o: _Optics, polys: np.ndarray) -> np.ndarray:
    """The polygons (fixed point) whose bounding box meets the picture."""
    if not len(polys):
        return polys
    low, high = polys.min(axis=1), polys.max(axis=1)
    keep = (high[:, 0] >= 0) & (low[:, 0] < o.w * _ONE) & (high[:, 1] >= 0) & (low[:, 1] < o.h * _ONE)
    return polys[keep]


def _paint_blocks(c: _Canvas, L: _Layout, rng: np.random.Generator, condition: str) -> None:
    """The buildings along the street: walls far to near, then their windows, sills and shop fronts in a few
    batches (on one side the facades of consecutive blocks do not overlap on screen, so the order of the details
    does not matter)."""
    o = c.o
    night = condition == "night"
    blocks = sorted(L.blocks, key=lambda b: -b.zb)
    walls = []
    for b in blocks:
        k = 1.0 if (b.side == L.sun_side or condition != "day") else 0.72
        wall = _shade(b.colour, k * (0.8 if condition == "rain" else 1.0))
        walls.append(wall)
        X, out = b.X, b.X + b.side * 25.0
        # End face towards the camera, the facade, the roof line.
        c.world([(X, 0, b.za), (out, 0, b.za), (out, b.height, b.za), (X, b.height, b.za)], _shade(wall, 0.85), tex=5)
        c.world([(X, 0, b.za), (X, 0, b.zb), (X, b.height, b.zb), (X, b.height, b.za)], wall, tex=5)
        c.world([(X, b.height - 0.5, b.za), (X, b.height - 0.5, b.zb), (X, b.height, b.zb), (X, b.height, b.za)],
                _shade(wall, 0.7), aux=False)
    before = {}                                 # block -> the next nearer block on its side
    for side in (-1, 1):
        row = sorted((b for b in blocks if b.side == side), key=lambda b: b.za)
        before.update({id(b): a for a, b in zip(row, row[1:])})
    groups: dict[tuple, list] = {}              # colour -> window quads (day: glass shade; night: lit or not)
    lit_groups: dict[tuple, list] = {}
    fronts, signs, inks = [], {}, {}
    for b, wall in zip(blocks, walls):
        if o.f * b.win_h / b.za < 1.2:
            continue
        floors = np.arange(4.0 if b.storefront else 1.0, b.height - b.floor_h + 0.5, b.floor_h) + 0.8
        cols = np.arange(b.za + 1.0, b.zb - b.win_w, b.win_step)
        if len(floors) and len(cols):
            fy, zc = (a.ravel() for a in np.meshgrid(floors, cols, indexing="ij"))
            keep = o.f * b.win_h / zc >= 1.2
            corners = _window_quads(b.X, fy[keep], zc[keep], b.win_w, b.win_h)
            shades = rng.integers(0, 4, size=len(corners))
            lit = rng.random(len(corners)) < 0.15
            if night:
                groups.setdefault((18, 18, 22), []).append(corners[~lit])
                for s, colour in enumerate(((120, 175, 225), (200, 215, 220), (150, 205, 240), (110, 150, 190))):
                    lit_groups.setdefault(colour, []).append(corners[lit & (shades == s)])
            else:
                for s in range(4):
                    colour = _shade(b.glass, (0.75, 0.9, 1.05, 1.35)[s] * (0.8 if condition == "rain" else 1.0))
                    groups.setdefault(colour, []).append(corners[shades == s])
            near = corners[:, 0, 2] < o.f * 0.12 / 0.5          # sills where they are at least half a pixel
            if near.any():
                sill = corners[near].copy()
                sill[:, 2, 1] = sill[:, 0, 1] - 0.12
                sill[:, 3, 1] = sill[:, 0, 1] - 0.12
                groups.setdefault(_shade(wall, 1.2), []).append(sill)
        # Windows on the end face towards the camera too (a bare wall this near would look like a cover), where
        # it shows: above the nearer neighbour's roof, or all of it after a side street.
        nearer = before.get(id(b))
        shown_from = 0.0 if nearer is None or nearer.zb < b.za - 0.01 else nearer.height
        rows = np.arange(1.0, b.height - b.floor_h + 0.5, b.floor_h) + 0.8
        rows = rows[rows > shown_from]
        across = np.arange(1.0, 24.0 - b.win_w, b.win_step)
        if len(rows) and len(across):
            fy, dx = (a.ravel() for a in np.meshgrid(rows, across, indexing="ij"))
            xs = b.X + b.side * dx
            zz = np.full_like(fy, b.za)
            x_near, x_far = (xs, xs + b.side * b.win_w)
            end = _quad_stack(np.stack([x_near, fy, zz], -1), np.stack([x_far, fy, zz], -1),
                              np.stack([x_far, fy + b.win_h, zz], -1), np.stack([x_near, fy + b.win_h, zz], -1))
            lit_end = rng.random(len(end)) < 0.15
            if night:
                groups.setdefault((18, 18, 22), []).append(end[~lit_end])
                lit_groups.setdefault((150, 205, 240), []).append(end[lit_end])
            else:
                groups.setdefault(_shade(b.glass, 0.8 if condition == "rain" else 0.9), []).append(end)
        if b.storefront and o.f * 1.0 / b.za >= 2:
            fronts.append(_window_quads(b.X, np.array([0.3]), np.array([b.za + 0.5]), b.zb - b.za - 1.0, 2.7))
            signs.setdefault(b.sign_colour, []).append(
                _window_quads(b.X, np.array([3.1]), np.array([b.za + 0.3]), b.zb - b.za - 0.6, 0.8))
            n = int((b.zb - b.za - 1.0) / 0.9)          # characters on the shop sign: small light blocks
            zs = b.za + 0.8 + np.arange(n) * 0.9
            zs = zs[rng.random(n) < 0.8]
            ink = (240, 240, 240) if sum(b.sign_colour) < 400 else (30, 30, 160)
            inks.setdefault(ink, []).append(_window_quads(b.X, np.full_like(zs, 3.25), zs, 0.6, 0.5))
    for colour, parts in groups.items():
        c.polys(_on_screen(o, o.quads(np.concatenate(parts))), colour, aux=False)
    for colour, parts in lit_groups.items():
        c.polys(_on_screen(o, o.quads(np.concatenate(parts))), colour, 255)
    if fronts:
        c.polys(o.quads(np.concatenate(fronts)), (120, 170, 210) if night else (70, 65, 60), 200, aux=night)
    for colour, parts in signs.items():
        c.polys(o.quads(np.concatenate(parts)), colour, 160, aux=night)
    for colour, parts in inks.items():
        c.polys(o.quads(np.concatenate(parts)), colour, 220, aux=night)


def _paint_lamp(c: _Canvas, lamp, condition: str) -> None:
    X, Z, height, arm = lamp
    o = c.o
    thick = o.f * 0.18 / Z
    if thick < 0.4:
        return
    depth = _depth_code(Z)
    grey = (95, 100, 105) if condition != "night" else (30, 30, 32)
    c.line((X, 0, Z), (X, height, Z), grey, thick, depth=depth)
    c.line((X, height, Z), (X + arm, height + 0.3, Z), grey, thick * 0.7, depth=depth)
    hx, hy = o.xy(X + arm, height, Z)
    r = o.f * 0.35 / Z
    if condition == "night":
        c.ellipse((float(hx), float(hy)), (r * 1.4, r * 0.6), (235, 245, 250), 255, depth=depth)
        c.lights.append((float(hx), float(hy), o.f * 0.9 / Z, 0.5, False))
        gx, gy = o.xy(X + arm, 0, Z)
        c.lights.append((float(gx), float(gy), o.f * 8.0 / Z, 1.0, True))
    else:
        c.ellipse((float(hx), float(hy)), (r * 1.4, r * 0.6), (200, 205, 210), depth=depth)


def _paint_tree(c: _Canvas, tree, rng: np.random.Generator, condition: str) -> None:
    X, Z, trunk, radius, colour = tree
    o = c.o
    if o.f * radius / Z < 1.5:
        return
    depth = _depth_code(Z)
    k = {"day": 1.0, "night": 0.45, "rain": 0.75, "haze": 1.0}[condition]
    c.line((X, 0, Z), (X, trunk + radius * 0.5, Z), _shade((50, 65, 80), k), o.f * 0.25 / Z, depth=depth)
    cx, cy = o.xy(X, trunk + radius, Z)
    cx, cy = float(cx), float(cy)
    r = o.f * radius / Z
    offsets = rng.normal(0, 0.35, size=(8, 2))
    tones = rng.uniform(0.7, 1.25, size=8)
    axes = rng.uniform((0.45, 0.4), (0.8, 0.7), size=(8, 2))
    # The crown: clumps of leaves in several greens; one outline carries texture and depth for all of them.
    reach = np.abs(offsets).max(axis=0) + axes.max(axis=0)
    c.ellipse((cx, cy), (r * reach[0], r * reach[1]), _shade(colour, 0.7 * k), tex=14, depth=depth)
    for (dx, dy), tone, (ax, ay) in zip(offsets, tones, axes):
        c.ellipse((cx + dx * r, cy + dy * r), (r * ax, r * ay), _shade(colour, tone * k), aux=False)


def _paint_gantry(c: _Canvas, L: _Layout, condition: str) -> None:
    Z, x0, x1, bottom, top, lines = L.gantry
    o = c.o
    depth = _depth_code(Z)
    k = 0.45 if condition == "night" else (0.8 if condition == "rain" else 1.0)
    post = _shade((120, 120, 118), k)
    c.line((x0 - 0.3, 0, Z), (x0 - 0.3, top, Z), post, o.f * 0.3 / Z, depth=depth)
    c.line((x1 + 0.3, 0, Z), (x1 + 0.3, top, Z), post, o.f * 0.3 / Z, depth=depth)
    c.world([(x0, bottom, Z), (x1, bottom, Z), (x1, top, Z), (x0, top, Z)], _shade((235, 235, 235), k), depth=depth)
    c.world([(x0 + 0.12, bottom + 0.12, Z), (x1 - 0.12, bottom + 0.12, Z), (x1 - 0.12, top - 0.12, Z),
             (x0 + 0.12, top - 0.12, Z)], _shade((150, 75, 15), k), 90 if condition == "night" else 0, depth=depth)
    px0, py_top = o.xy(x0 + 0.4, top - 0.3, Z)
    px1, py_bot = o.xy(x1 - 0.4, bottom + 0.3, Z)
    line_h = (py_bot - py_top) / len(lines)
    if line_h < 6:
        return
    ink = _shade((245, 245, 245), k)
    for i, text in enumerate(lines):
        scale = line_h * 0.62 / 22.0
        (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        if tw > px1 - px0:
            scale *= (px1 - px0) / tw
        thickness = max(1, int(round(scale * 1.6)))
        y = int(py_top + line_h * (i + 0.8))
        cv2.putText(c.img, text, (int(px0), y), cv2.FONT_HERSHEY_SIMPLEX, scale, ink, thickness, cv2.LINE_AA)
        cv2.putText(c.aux, text, (int(px0), y), cv2.FONT_HERSHEY_SIMPLEX, scale, (90, 1, depth), thickness, cv2.LINE_8)


def _traffic(rng: np.random.Generator, L: _Layout) -> list[tuple]:
    """Vehicles on the road: (lane centre X, Z, width, height, length, colour, oncoming)."""
    vehicles = []
    zn = L.optics.z_near()
    for k in range(L.lanes):
        x = L.road_left + (k + 0.5) * L.lane_w
        oncoming = L.two_way and k < L.lanes // 2
        z = zn * rng.uniform(0.9, 3.0)
        while z < 180:
            if rng.random() < 0.55:
                kind = rng.random()
                width, height, length = ((1.8, 1.45, 4.6) if kind < 0.7 else
                                         (1.95, 1.85, 4.9) if kind < 0.9 else (2.5, 3.2, 11.0))
                vehicles.append((x + rng.normal(0, 0.25), z, width, height, length,
                                 _CARS[rng.integers(len(_CARS))], oncoming))
                z += length
            z += rng.uniform(6, 35) * (1 + z / 60)
    return vehicles


def _paint_vehicle(c: _Canvas, v, condition: str) -> None:
    x, Z, width, height, length, colour, oncoming = v
    o = c.o
    if o.f * width / Z < 3:
        return
    depth = _depth_code(Z)
    k = {"day": 1.0, "night": 0.35, "rain": 0.8, "haze": 1.0}[condition]
    body = _shade(colour, k)
    x0, x1 = x - width / 2, x + width / 2
    rear, top, left, right = _box(x0, x1, 0.3, height, Z, Z + length)
    side = left if x > 0 else right
    c.world(np.array([side, top, rear], np.float64), (0, 0, 0), tex=1, depth=depth)     # outline in aux
    c.world(side, _shade(body, 0.78), aux=False)
    c.world(top, _shade(body, 1.08), aux=False)
    c.world(rear, body, aux=False)
    glass = _shade((55, 50, 48), k if condition != "night" else 0.6)
    wy0 = 0.3 + (height - 0.3) * 0.5
    c.world([(x0 + 0.15, wy0, Z), (x1 - 0.15, wy0, Z), (x1 - 0.25, height - 0.12, Z), (x0 + 0.25, height - 0.12, Z)],
            glass, aux=False)
    c.world([(x0 - 0.05, 0.0, Z - 0.1), (x1 + 0.05, 0.0, Z - 0.1), (x1 + 0.05, 0.3, Z), (x0 - 0.05, 0.3, Z)],
            (25, 25, 25), tex=1, depth=depth)                                     # wheels and shadow
    ly0, ly1 = 0.3 + (height - 0.3) * 0.3, 0.3 + (height - 0.3) * 0.42
    lit = condition == "night"
    if lit:
        lamp = (250, 252, 255) if oncoming else (60, 60, 255)
    else:
        lamp = (230, 240, 245) if oncoming else (40, 40, 200)
    for lx0, lx1 in ((x0 + 0.08, x0 + 0.45), (x1 - 0.45, x1 - 0.08)):
        c.world([(lx0, ly0, Z), (lx1, ly0, Z), (lx1, ly1, Z), (lx0, ly1, Z)], lamp, 255, tex=1, depth=depth, aux=lit)
        if lit:
            cx, cy = o.xy((lx0 + lx1) / 2, (ly0 + ly1) / 2, Z)
            c.lights.append((float(cx), float(cy), o.f * (0.9 if oncoming else 0.5) / Z, 0.6 if oncoming else 0.3,
                             False))
    plate = (160, 70, 15) if not oncoming else (40, 170, 200)      # blue rear / yellow front plates
    c.world([(x - 0.22, 0.42, Z), (x + 0.22, 0.42, Z), (x + 0.22, 0.56, Z), (x - 0.22, 0.56, Z)], _shade(plate, k),
            aux=False)


def _illumination(c: _Canvas) -> tuple[np.ndarray, np.ndarray]:
    """Night light: per-pixel illumination (ambient, brighter near the camera, plus lamp pools) and an additive
    bloom around lamps and headlights; both smooth, so computed coarse."""
    o = c.o
    s = 8
    sw, sh = max(8, o.w // s), max(8, o.h // s)
    light = np.zeros((sh, sw), np.float32)
    bloom = np.zeros((sh, sw), np.float32)
    for x, y, r, strength, pool in c.lights:
        cv2.circle(light if pool else bloom, (int(x / s), int(y / s)), max(1, int(r / s)), strength, -1)
    light = cv2.GaussianBlur(light, (0, 0), max(1.0, sw / 40))
    bloom = cv2.GaussianBlur(bloom, (0, 0), max(1.0, sw / 120))
    rows = np.clip((np.arange(sh, dtype=np.float32) * s - o.yh) / (o.h - o.yh), 0, 1)[:, None]
    illum = 0.45 + 0.15 * rows + np.minimum(light * 0.5, 0.4)
    return (cv2.resize(illum, (o.w, o.h), interpolation=cv2.INTER_LINEAR),
            cv2.resize(bloom, (o.w, o.h), interpolation=cv2.INTER_LINEAR))


def _merge3(single: np.ndarray) -> np.ndarray:
    """One channel as three (cv2 arithmetic takes a bare number as (n, 0, 0, 0): scale single channels, merge)."""
    return cv2.cvtColor(single, cv2.COLOR_GRAY2BGR)


_LEVELS = np.arange(256, dtype=np.float64)
_GREY = (0.114, 0.587, 0.299)           # BGR weights of cv2's grey


def _exposure_lut(image: np.ndarray, target: float, balance: float = 0.5) -> np.ndarray:
    """Per-channel table for grey-world white balance (`balance` of the way) and a gamma bringing the grey mean
    to target.

    Exact on a 1/16 sample: the grey mean is linear in the channel means, so per-channel histograms suffice."""
    sample = image[::4, ::4]
    hists = [np.bincount(sample[..., k].ravel(), minlength=256).astype(np.float64) for k in range(3)]
    n = max(1.0, hists[0].sum())
    means = np.array([h @ _LEVELS / n for h in hists])
    gains = (means.mean() / np.maximum(means, 1.0)) ** balance
    scaled = [np.clip(_LEVELS * g, 0, 255) / 255.0 for g in gains]

    def grey_mean(gamma: float) -> float:
        return sum(wt * (h @ (255.0 * v ** gamma)) / n for wt, h, v in zip(_GREY, hists, scaled))

    gamma = 1.0
    for _ in range(10):
        m = grey_mean(gamma)
        if abs(m - target) < 0.3:
            break
        gamma *= math.log(max(target, 1.0) / 255.0) / math.log(min(max(m, 1.0), 254.0) / 255.0)
    lut = np.stack([255.0 * v ** gamma for v in scaled], axis=-1)
    return np.clip(lut + 0.5, 0, 255).astype(np.uint8).reshape(256, 1, 3)


def _compose(c: _Canvas, L: _Layout, condition: str, rng: np.random.Generator) -> np.ndarray:
    """Light, weather, white balance, exposure and grain: the picture the sensor delivers. All in 8-bit fixed
    point (saturating cv2 arithmetic), which is several times faster than float at 1080p."""
    o = c.o
    h, w = o.h, o.w
    img = c.img
    if condition == "night":
        # Illumination (lamp pools, ambient) except where things glow; bloom around lamps and headlights.
        illum, bloom = _illumination(c)
        glow = cv2.extractChannel(c.aux, 0)
        light = cv2.add(cv2.multiply(illum, cv2.subtract(255, glow, dtype=cv2.CV_32F), scale=128 / 255),
                        cv2.multiply(glow, 128 / 255, dtype=cv2.CV_32F), dtype=cv2.CV_8U)   # 128 = 1.0
        img = cv2.multiply(img, _merge3(light), scale=1 / 128, dtype=cv2.CV_8U)
        img = cv2.add(img, _merge3(cv2.multiply(bloom, 120.0, dtype=cv2.CV_8U)))
    elif condition == "rain":
        # Lower contrast, and streaks.
        mean = float(np.mean(cv2.mean(img[::4, ::4])[:3]))
        img = cv2.convertScaleAbs(img, alpha=0.8, beta=0.2 * mean)
        streaks = np.zeros((h, w), np.uint8)
        n = int(w * h / 900)
        angle = rng.uniform(-0.35, 0.35)
        length = h * rng.uniform(0.03, 0.07)
        xs, ys = rng.uniform(0, w, n), rng.uniform(0, h, n)
        ls = length * rng.uniform(0.5, 1.0, n)
        lines = np.stack([np.stack([xs, ys], 1), np.stack([xs + np.sin(angle) * ls, ys + np.cos(angle) * ls], 1)], 1)
        cv2.polylines(streaks, list(lines.round().astype(np.int32)), False, 255, 1, cv2.LINE_AA)
        toward = cv2.subtract(np.full_like(img, 235), img)
        img = cv2.add(img, cv2.multiply(toward, _merge3(streaks), scale=0.18 / 255))
    elif condition == "haze":
        # Transmission from a depth guessed from the distance to the vanishing point (walls and ground both
        # shrink towards it as 1/Z), computed coarse: it is smooth. Airlight is a bright grey.
        s = 4
        ys, xs = np.ogrid[:(h + s - 1) // s, :(w + s - 1) // s]
        r = np.sqrt(((xs * s - o.xv) * 0.6) ** 2 + (np.maximum(ys * s - o.yh, 0)) ** 2 + 1.0)
        beta = rng.uniform(0.007, 0.012)
        t = np.clip(np.exp(-beta * np.minimum(o.f * 7.0 / r, 400)) * 1.05, 0.2, 0.92)
        t = cv2.resize(np.rint(t * 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
        air = cv2.multiply(cv2.subtract(255, t), 213 / 255)
        img = cv2.add(cv2.multiply(img, _merge3(t), scale=1 / 255), _merge3(air))
    low, high = EXPOSURE_TARGET[condition]
    out = cv2.LUT(img, _exposure_lut(img, rng.uniform(low, high), 0.8 if condition == "night" else 0.5))
    return _grain(out, rng, {"day": 2.2, "night": 2.6, "rain": 2.6, "haze": 2.2}[condition])


_POOL_MARGIN = 256


@lru_cache(maxsize=8)
def _pool(rows: int, cols: int) -> np.ndarray:
    """A fixed field of Gaussian grain: uint8 128 + 16·N(0, 1) in three equal channels (ready for one saturating
    cv2.addWeighted)."""
    unit = np.random.default_rng(0x5AFEC).standard_normal((rows, cols), dtype=np.float32)
    field = cv2.cvtColor(np.clip(np.rint(128.0 + 16.0 * unit), 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    field.flags.writeable = False
    return field


def _grain_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Grain of h x w: a crop, at an offset from `rng`, of a fixed pool whose size depends only on (h, w): as
    random to the eye as drawing it, ten times cheaper, and the same for the same rng whatever ran before."""
    bucket = 256
    rows = -(-(h + _POOL_MARGIN) // bucket) * bucket
    cols = -(-(w + _POOL_MARGIN) // bucket) * bucket
    dy, dx = (int(v) for v in rng.integers(0, _POOL_MARGIN + 1, size=2))
    return _pool(rows, cols)[dy:dy + h, dx:dx + w]


def _grain(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Sensor noise of `sigma` grey levels, in luminance."""
    h, w = img.shape[:2]
    k = float(sigma) / 16.0
    return cv2.addWeighted(img, 1.0, _grain_noise(rng, h, w), k, -128.0 * k)


def burn_osd(image: np.ndarray, when: datetime, channel: str) -> np.ndarray:
    """The camera's burned-in text: date and time top left, channel name bottom right (white, black outline).

    Everything it draws lies within the top and bottom OSD_BAND of the rows.
    """
    h, w = image.shape[:2]
    out = image.copy()
    scale = h * 0.034 / 22.0
    thick = max(1, int(round(scale * 1.6)))
    stamp = when.strftime("%Y-%m-%d %a %H:%M:%S")
    margin = int(w * 0.02)
    band = int(h * OSD_BAND)
    (_, th), _ = cv2.getTextSize(stamp, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    (cw, _), _ = cv2.getTextSize(channel, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    kernel = np.ones((3, 3), np.uint8)
    pad = 2 * thick + 4
    for text, x, top, baseline in ((stamp, margin, 0, int(h * 0.025) + th),
                                    (channel, w - margin - cw, h - band, band - int(h * 0.025))):
        (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        x0, x1 = max(0, x - pad), min(w, x + tw + pad)      # only the text's box is touched
        part = out[top:top + band, x0:x1]
        ink = np.zeros(part.shape[:2], np.uint8)
        cv2.putText(ink, text, (x - x0, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)
        edge = cv2.dilate(ink, kernel, iterations=max(1, thick // 2 + 1))
        a_edge = (edge.astype(np.float32) * (0.85 / 255))[..., None]
        a_ink = (ink.astype(np.float32) * (1 / 255))[..., None]
        mixed = part.astype(np.float32) * (1 - a_edge)
        mixed = mixed * (1 - a_ink) + 255.0 * a_ink
        out[top:top + band, x0:x1] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    return out


@dataclass
class _Static:
    """What does not move in one view under one condition: painted once, reused for every picture."""
    canvas: _Canvas


def _static(layout: _Layout, condition: str) -> _Static:
    detail = np.random.default_rng(layout.seed)     # window shades, lit windows, crowns: same in every condition
    c = _Canvas.blank(layout.optics)
    _paint_sky(c, layout, condition)
    _paint_skyline(c, layout, detail, condition)
    _paint_ground(c, layout, condition)
    _paint_blocks(c, layout, detail, condition)
    things = [(lamp[1], 0, i) for i, lamp in enumerate(layout.lamps)]
    things += [(tree[1], 1, i) for i, tree in enumerate(layout.trees)]
    if layout.gantry is not None:
        things.append((layout.gantry[0], 2, 0))
    for _, kind, i in sorted(things, key=lambda t: (-t[0], t[1], t[2])):
        if kind == 0:
            _paint_lamp(c, layout.lamps[i], condition)
        elif kind == 1:
            _paint_tree(c, layout.trees[i], detail, condition)
        else:
            _paint_gantry(c, layout, condition)
    # Surface texture: reflectance varies by as many percent as each surface's texture value says (the offset of
    # the noise comes from the view's own stream, so the texture is the same in every picture of the view).
    o = layout.optics
    half = detail.standard_normal(((o.h + 1) // 2, (o.w + 1) // 2), dtype=np.float32)
    texture = cv2.resize(half, (o.w, o.h), interpolation=cv2.INTER_LINEAR) * (1 / 0.63)     # ~unit std
    modulation = cv2.add(cv2.multiply(texture, cv2.extractChannel(c.aux, 1), scale=1.28, dtype=cv2.CV_32F), 128.0,
                         dtype=cv2.CV_8U)                  # 128 · (1 + percent / 100 · N), fixed point
    c.img = cv2.multiply(c.img, _merge3(modulation), scale=1 / 128, dtype=cv2.CV_8U)
    return _Static(c)


def _frame(static: _Static, layout: _Layout, condition: str, rng: np.random.Generator) -> np.ndarray:
    """One picture: the static view, this moment's traffic (behind nearer street objects), light and sensor."""
    c = static.canvas.copy()
    for v in sorted(_traffic(rng, layout), key=lambda v: -v[1]):
        _paint_vehicle(c, v, condition)
    # Where a nearer lamp post, tree or sign was, the vehicle is behind it: put the object back.
    behind = cv2.compare(cv2.extractChannel(static.canvas.aux, 2), cv2.extractChannel(c.aux, 2), cv2.CMP_LT)
    if cv2.countNonZero(behind):
        cv2.copyTo(static.canvas.img, behind, c.img)
        cv2.copyTo(static.canvas.aux, behind, c.aux)
    return _compose(c, layout, condition, rng)


def render_scene(rng: np.random.Generator, width: int, height: int, condition: str, *,
                 when: datetime | None = None, channel: str | None = None, osd: bool = True,
                 traffic: np.random.Generator | None = None) -> np.ndarray:
    """A clean camera picture (BGR uint8, height x width x 3) of a street under `condition` (one of CONDITIONS).

    `rng` fixes the view: the same rng state gives the same street whatever the condition. The traffic, rain,
    exposure and grain come from `traffic` when given (so one camera's pictures differ while its view stays),
    else from `rng` after the view. With `osd` the picture carries the timestamp `when` (drawn from the rng when
    None) and the channel name (ASCII: Hershey fonts have no CJK).
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; expected one of {CONDITIONS}")
    layout = _layout(rng, width, height)
    moving = traffic if traffic is not None else rng
    image = _frame(_static(layout, condition), layout, condition, moving)
    if osd:
        if when is None:
            when = datetime(2026, 1, 1) + timedelta(seconds=int(rng.integers(0, 365 * 86400)))
        image = burn_osd(image, when, channel or "CAM")
    return image


# ---------------------------------------------------------------------------------------------------------------
# Defects
# ---------------------------------------------------------------------------------------------------------------

def _grey_mean(image: np.ndarray) -> float:
    sample = image[::4, ::4].astype(np.float32)
    return float((sample @ np.array([0.114, 0.587, 0.299], np.float32)).mean())


def _blur(image, rng):
    h, w = image.shape[:2]
    if rng.random() < 0.6:                                  # defocus: a disc
        r = max(3, int(round(w * rng.uniform(0.010, 0.018))))
        kernel = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
        cv2.circle(kernel, (r, r), r, 1.0, -1, cv2.LINE_AA)
        out = cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)
    else:
        out = cv2.GaussianBlur(image, (0, 0), w * rng.uniform(0.006, 0.011))
    return _grain(out, rng, 0.8)


def _too_dark(image, rng):
    target = rng.uniform(8, 28)
    m = max(_grey_mean(image), 1.0)
    out = cv2.convertScaleAbs(image, alpha=target / m)
    return _grain(out, rng, 1.5)


def _too_bright(image, rng):
    target = rng.uniform(215, 240)
    f = image.astype(np.float32)
    gain = 1.5
    for _ in range(12):
        out = 255.0 - (255.0 - np.minimum(f * gain, 255.0)) * 0.6
        if _grey_mean(out) >= target:
            break
        gain *= 1.25
    return np.clip(out, 0, 255).astype(np.uint8)


def cast_factor(image: np.ndarray) -> float:
    """The Lab equivalent-circle colour-cast factor K = D / M of VQD `color_deviation.py` (cast when K > 1.5)."""
    lab = cv2.cvtColor(image[::2, ::2], cv2.COLOR_BGR2LAB).astype(np.float32)
    a, b = lab[..., 1] - 128.0, lab[..., 2] - 128.0
    da, db = float(a.mean()), float(b.mean())
    m = math.hypot(float(np.abs(a - da).mean()), float(np.abs(b - db).mean()))
    return math.hypot(da, db) / max(m, 1e-6)


_CASTS = {"red": 20.0, "yellow": 80.0, "green": 150.0, "cyan": 200.0, "blue": 260.0, "magenta": 330.0}   # Lab hue


def _colour_cast(image, rng):
    """One hue over everything (white balance gone, a channel weak): in Lab, the colours washed halfway to grey
    and shifted towards the hue; lightness kept, a little compressed to leave room in the gamut."""
    hue = math.radians(_CASTS[str(rng.choice(sorted(_CASTS)))] + rng.uniform(-15, 15))
    size = rng.uniform(22, 32)
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)
    lightness = lab[..., 0] * 0.85 + 128 * 0.15
    out, chroma = image, 0.5
    for _ in range(8):                                      # a cast that a K > 1.5 rule finds with room to spare
        shifted = np.stack([lightness,
                            (lab[..., 1] - 128) * chroma + 128 + size * math.cos(hue),
                            (lab[..., 2] - 128) * chroma + 128 + size * math.sin(hue)], axis=-1)
        out = cv2.cvtColor(np.clip(shifted + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)
        if cast_factor(out) >= 3.0:
            break
        size *= 1.15
        chroma *= 0.8
    return out


def _noise(image, rng):
    h, w = image.shape[:2]
    sigma = rng.uniform(28, 42)
    luma = rng.standard_normal((h, w), dtype=np.float32) * sigma
    chroma = rng.standard_normal((h, w, 3), dtype=np.float32) * (sigma * 0.35)
    out = image.astype(np.float32) + luma[..., None] + chroma
    share = rng.uniform(0.04, 0.08)
    flakes = rng.random((h, w), dtype=np.float32)
    out[flakes < share / 2] = 255.0
    out[(flakes >= share / 2) & (flakes < share)] = 0.0
    return np.clip(out, 0, 255).astype(np.uint8)


def _occluder_mask(rng: np.random.Generator, width: int, height: int, low: float = 0.45,
                   high: float = 0.75) -> np.ndarray:
    """A soft blob (float32 0..1) anchored at an edge, corner or the centre, covering between low and high of the
    view (share of mask > 0.5)."""
    s = 4
    sw, sh = max(16, width // s), max(16, height // s)
    target = rng.uniform(low, high)
    anchor = [(0, 0), (1, 0), (0, 1), (1, 1), (0.5, 0), (0.5, 1), (0, 0.5), (1, 0.5), (0.5, 0.5)][rng.integers(9)]
    parts = [(anchor[0] + rng.normal(0, 0.15), anchor[1] + rng.normal(0, 0.15), rng.uniform(0.6, 1.2),
              rng.uniform(0.6, 1.2), rng.uniform(0, 180)) for _ in range(int(rng.integers(2, 5)))]
    mask = np.zeros((sh, sw), np.uint8)

    def cover(radius: float) -> float:
        mask[:] = 0
        for px, py, ax, ay, ang in parts:
            axes = (max(1, int(ax * radius * sw)), max(1, int(ay * radius * sh)))
            cv2.ellipse(mask, (int(px * sw), int(py * sh)), axes, float(ang), 0, 360, 255, -1)
        return float(np.count_nonzero(mask)) / mask.size

    radius, step = 0.3, 0.3
    for _ in range(30):                                     # towards the target share
        share = cover(radius)
        if low <= share <= high and abs(share - target) < 0.05:
            break
        radius *= 1 + step * (1 if share < target else -1)
        step *= 0.8
    while share < low:                                      # and never under the low bound
        radius *= 1.1
        share = cover(radius)
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), max(1.0, sw * 0.01))
    return cv2.resize(soft, (width, height), interpolation=cv2.INTER_LINEAR)


def _occlusion(image, rng):
    h, w = image.shape[:2]
    mask = _occluder_mask(rng, w, h)
    # Near-neutral covers (cloth, plastic bag, dust, paper or a sticker) of mid brightness: the picture is occluded,
    # not also dark, bright or colour-cast.
    grey = rng.uniform(80, 175)
    tint = rng.normal(0, 3, 3)
    base = np.array([grey + tint[0], grey + tint[1], grey + tint[2]], np.float32)
    ys, xs = np.ogrid[:h, :w]
    gx, gy = rng.uniform(-1, 1, 2)
    shading = 1.0 + 0.08 * ((xs / w - 0.5) * gx + (ys / h - 0.5) * gy)
    cover = base[None, None, :] * shading[..., None].astype(np.float32)
    m = mask[..., None]
    out = image.astype(np.float32) * (1 - m) + cover * m
    # Tint the cover a little against what stays visible, so the picture as a whole has no colour cast: an
    # occluded picture is mostly one grey, where the Lab cast factor (D / M) has a tiny M.
    lab = cv2.cvtColor(np.clip(out[::2, ::2], 0, 255).astype(np.uint8), cv2.COLOR_BGR2LAB).astype(np.float32)
    da, db = float(lab[..., 1].mean()) - 128.0, float(lab[..., 2].mean()) - 128.0
    share = max(float(mask.mean()), 0.2)
    cover_lab = cv2.cvtColor(np.clip(base, 0, 255).astype(np.uint8)[None, None], cv2.COLOR_BGR2LAB).astype(np.float32)
    cover_lab[..., 1] = np.clip(cover_lab[..., 1] - np.clip(da / share, -10, 10), 0, 255)
    cover_lab[..., 2] = np.clip(cover_lab[..., 2] - np.clip(db / share, -10, 10), 0, 255)
    tinted = cv2.cvtColor(cover_lab.astype(np.uint8), cv2.COLOR_LAB2BGR).astype(np.float32)[0, 0]
    cover = cover * (tinted / np.maximum(base, 1.0))[None, None, :]
    out = image.astype(np.float32) * (1 - m) + cover * m
    return _grain(np.clip(out, 0, 255).astype(np.uint8), rng, 1.0)


def _signal_loss(image, rng):
    h, w = image.shape[:2]
    blue = rng.random() < 0.5
    colour = (int(rng.choice([255, 200, 160])), int(rng.integers(0, 40)), 0) if blue else (0, 0, 0)
    out = np.empty_like(image)
    out[:] = colour
    if rng.random() < 0.8:
        text = str(rng.choice(["NO SIGNAL", "No Video", "VIDEO LOSS", "NO SIGNAL"]))
        scale = h * 0.03 / 22.0
        thick = max(1, int(round(scale * 1.4)))
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        cv2.putText(out, text, ((w - tw) // 2, (h + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), thick,
                    cv2.LINE_AA)
    return out


def _stripes(image, rng):
    h, w = image.shape[:2]
    period = w * rng.uniform(0.012, 0.045)
    amplitude = rng.uniform(32, 50)
    direction = rng.integers(3)                             # horizontal bands, vertical bands, slanted
    ys, xs = np.ogrid[:h, :w]
    if direction == 0:
        phase = ys * (2 * math.pi / period) + xs * 0.0
    elif direction == 1:
        phase = xs * (2 * math.pi / period) + ys * 0.0
    else:
        angle = rng.uniform(0.3, 1.2)
        phase = (ys * math.cos(angle) + xs * math.sin(angle)) * (2 * math.pi / period)
    wave = np.sin(phase).astype(np.float32)
    tint = np.array(rng.choice([[1, 1, 1], [1.2, 0.8, 0.6], [0.6, 1.1, 0.9], [0.8, 0.7, 1.2]]), np.float32)
    # On a dark picture the interference also lifts the black level (else black clips half of every band away).
    mean = max(_grey_mean(image), 1.0)
    lift = max(0.0, (130.0 - mean) / 100.0)
    amplitude *= min(2.0, max(1.0, 90.0 / mean))
    out = image.astype(np.float32) + (amplitude * (wave + lift))[..., None] * tint
    return np.clip(out, 0, 255).astype(np.uint8)


def flat_share(image: np.ndarray, block: int | None = None, threshold: float = 4.0) -> float:
    """Share of the picture in blocks (about 1/40 of the width) whose grey standard deviation is under
    `threshold`: large for occlusion, signal loss and very dark pictures."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    h, w = grey.shape
    block = block or max(8, w // 40)
    size = (max(1, w // block), max(1, h // block))
    crop = grey[:size[1] * block, :size[0] * block]
    mean = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    square = cv2.resize(crop * crop, size, interpolation=cv2.INTER_AREA)
    std = np.sqrt(np.maximum(square - mean * mean, 0))
    return float((std < threshold).mean())


def _bare_share(image: np.ndarray) -> float:
    """Share of blocks (1/16 of the width) without a single edge: a view that is mostly bare wall or road."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    edges = cv2.Canny(cv2.GaussianBlur(grey, (5, 5), 1.5), 40, 120)
    h, w = edges.shape
    block = max(8, w // 16)
    size = (w // block, h // block)
    density = cv2.resize(edges[:size[1] * block, :size[0] * block], size, interpolation=cv2.INTER_AREA)
    return float((density == 0).mean())


def _moved_view(w: int, h: int, rng: np.random.Generator, condition: str) -> np.ndarray:
    """The camera knocked or turned: another street, no longer level, at its widest zoom, some tilted down towards
    the road. Rendered large enough to rotate and crop without enlarging (which would soften it like a blur); a view
    that came out mostly bare wall is drawn again (it would look like an occlusion)."""
    for _ in range(8):
        tilted = rng.random() < 0.4
        angle = float(rng.choice([-1, 1]) * (rng.uniform(8, 20) if tilted else rng.uniform(12, 30)))
        t = math.radians(abs(angle))
        big_w = int(math.ceil(w * math.cos(t) + h * math.sin(t))) + 2
        big_h = int(math.ceil(w * math.sin(t) + h * math.cos(t))) + 2
        layout = _layout(rng, big_w, big_h)
        layout.optics.f *= rng.uniform(0.6, 0.85)             # knocked to its widest zoom
        if tilted:                                          # and down towards the road
            layout.optics.yh = big_h * rng.uniform(-0.1, 0.12)
        view = _frame(_static(layout, condition), layout, condition, rng)
        matrix = cv2.getRotationMatrix2D((big_w / 2, big_h / 2), angle, 1.0)
        matrix[:, 2] -= ((big_w - w) / 2, (big_h - h) / 2)
        view = cv2.warpAffine(view, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if flat_share(view) < 0.15 and _bare_share(view) < 0.5:
            break
    return view


def apply_defect(image: np.ndarray, defect: str, rng: np.random.Generator, reference: np.ndarray | None = None, *,
                 condition: str = "day") -> np.ndarray:
    """`image` (BGR uint8) with one defect of DEFECTS; `image` is not changed.

    frozen needs `reference`: the camera's previous picture, which is returned unchanged (a copy). scene_change
    returns the different street the camera now points at, rendered from `rng` under `condition`, without OSD.
    signal_loss ignores the picture. The others transform it.
    """
    if defect == "frozen":
        if reference is None:
            raise ValueError("frozen needs the previous picture as reference")
        return reference.copy()
    if defect == "scene_change":
        return _moved_view(image.shape[1], image.shape[0], rng, condition)
    makers = {"blur": _blur, "too_dark": _too_dark, "too_bright": _too_bright, "colour_cast": _colour_cast,
              "noise": _noise, "occlusion": _occlusion, "signal_loss": _signal_loss, "stripes": _stripes}
    if defect not in makers:
        raise ValueError(f"unknown defect {defect!r}; expected one of {DEFECTS}")
    return makers[defect](image, rng)


# ---------------------------------------------------------------------------------------------------------------
# A day of snapshots
# ---------------------------------------------------------------------------------------------------------------

def condition_at(seconds: int, weather: str) -> str:
    """night from 19:00 to 06:00, otherwise the camera's weather of the day (day, rain or haze)."""
    hour = seconds // 3600
    return "night" if hour >= NIGHT_FROM_HOUR or hour < NIGHT_UNTIL_HOUR else weather


def encode_jpeg(image: np.ndarray) -> bytes:
    """The JPEG bytes written for a picture (fixed quality: the same picture always gives the same bytes)."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes()


def _as_date(day) -> date:
    if isinstance(day, datetime):
        return day.date()
    if isinstance(day, date):
        return day
    text = str(day).replace("-", "")
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}{seconds % 3600 // 60:02d}{seconds % 60:02d}"


@dataclass
class _Plan:
    weather: str
    times: list[int]
    keys: list[float]


def _plan(world, device_id: str, ymd: str, per_camera: int, rain: float, haze: float) -> _Plan:
    """A camera's day without pictures: its weather, its snapshot times (one per equal slot of the day) and the
    random keys that rank its snapshots for the deal of defects."""
    rng = world.rng(f"snapshot:{device_id}:{ymd}:plan")
    u = rng.random()
    weather = "rain" if u < rain else ("haze" if u < rain + haze else "day")
    slot = 86400 / per_camera
    times, last = [], 0
    for k in range(per_camera):
        t = max(int(k * slot + rng.uniform(0.05, 0.95) * slot), last + 2)
        times.append(min(t, 86399))
        last = t
    return _Plan(weather, times, [float(x) for x in rng.random(per_camera)])


class _Camera:
    """One camera's view, with its static scene painted once per condition it is seen in."""

    def __init__(self, world, device_id: str, width: int, height: int):
        self.device_id = device_id
        self.channel = f"CH {device_id}" if device_id.isascii() else "CH"
        self.view = world.rng(f"snapshot:{device_id}")
        self.layout = _layout(self.view, width, height)
        self._static: dict[str, _Static] = {}

    def static(self, condition: str) -> _Static:
        if condition not in self._static:
            self._static[condition] = _static(self.layout, condition)
        return self._static[condition]

    def reference(self) -> np.ndarray:
        """What the camera normally sees: a clear day, as captured when it was commissioned (fixed per camera)."""
        commissioned = datetime(2025, 1, 1) + timedelta(days=int(self.view.integers(0, 330)),
                                                        seconds=int(self.view.integers(10 * 3600, 15 * 3600)))
        picture = _frame(self.static("day"), self.layout, "day", self.view)
        return burn_osd(picture, commissioned, self.channel)

    def snapshot(self, condition: str, rng: np.random.Generator, when: datetime, defect: str | None) -> np.ndarray:
        optical = _frame(self.static(condition), self.layout, condition, rng)
        if defect in _OPTICAL:
            optical = apply_defect(optical, defect, rng, condition=condition)
        picture = burn_osd(optical, when, self.channel)
        if defect in _TRANSMISSION or defect == "signal_loss":
            picture = apply_defect(picture, defect, rng)
        return picture


@dataclass(frozen=True)
class _Day:
    """What every camera's job needs to know about the day being written."""
    world: object
    width: int
    height: int
    ymd: str
    out: Path


@dataclass(frozen=True)
class _Job:
    device_id: str
    plan: _Plan
    defects: tuple                      # per scheduled snapshot: a defect of DEFECTS or None


def _camera_files(day: _Day, job: _Job) -> list[tuple]:
    """Render and write one camera's reference and snapshots; return what the manifest records of them:
    (device_id, relpath, kind, label, condition, defect or None, same_as or None)."""
    device_id, plan = job.device_id, job.plan
    midnight = datetime.strptime(day.ymd, "%Y%m%d")
    camera = _Camera(day.world, device_id, day.width, day.height)
    entries = []
    ref_rel = f"snapshots/reference/{device_id}.jpg"
    (day.out / ref_rel).write_bytes(encode_jpeg(camera.reference()))
    entries.append((device_id, ref_rel, "snapshot_reference", "clean", "day", None, None))
    rng = day.world.rng(f"snapshot:{device_id}:{day.ymd}")
    last = -1
    for seconds, defect in zip(plan.times, job.defects):
        relpath = f"snapshots/{day.ymd}/{device_id}_{_hms(seconds)}.jpg"
        if defect == "frozen":
            # The picture stopped at an earlier one of the same day: write that one, then the same bytes again.
            earlier = max(seconds - int(rng.integers(1, max(2, min(1800, seconds - last)))), last + 1)
            condition = condition_at(earlier, plan.weather)
            data = encode_jpeg(camera.snapshot(condition, rng, midnight + timedelta(seconds=earlier), None))
            earlier_rel = f"snapshots/{day.ymd}/{device_id}_{_hms(earlier)}.jpg"
            (day.out / earlier_rel).write_bytes(data)
            (day.out / relpath).write_bytes(data)
            entries.append((device_id, earlier_rel, "snapshot", "clean", condition, None, None))
            entries.append((device_id, relpath, "snapshot", "frozen", condition, "frozen", earlier_rel))
        else:
            condition = condition_at(seconds, plan.weather)
            picture = camera.snapshot(condition, rng, midnight + timedelta(seconds=seconds), defect)
            (day.out / relpath).write_bytes(encode_jpeg(picture))
            entries.append((device_id, relpath, "snapshot", defect or "clean", condition, defect, None))
        last = seconds
    return entries


_WORKER_DAY: _Day | None = None


def _init_worker(day: _Day) -> None:
    global _WORKER_DAY
    _WORKER_DAY = day
    # No cv2.setNumThreads here: in a child forked after the parent used OpenCV's thread pool it never returns.


def _camera_files_in_worker(job: _Job) -> list[tuple]:
    return _camera_files(_WORKER_DAY, job)


def _worker_count(workers: int | None, cameras: int) -> int:
    if workers is not None:
        return max(1, int(workers))
    if cameras < PARALLEL_FROM_CAMERAS:
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def write_snapshots(world, scale, cameras, out, manifest, day, *, workers: int | None = None) -> dict[str, int]:
    """Every camera's reference frame and a day of its snapshots under out/snapshots, recorded in the manifest.

    `day` is a date, a datetime or "YYYYMMDD"/"YYYY-MM-DD". A share `world.faults.snapshots.defect` of the
    scheduled snapshots (rounded) gets exactly one defect, dealt in turn over DEFECTS by a random rank, so every
    class gets the same count ±1. A frozen snapshot comes with the earlier clean snapshot it is stuck on, written
    under an earlier time of the same day (labelled clean; the fault names it as `same_as`). Reference frames are
    recorded as kind `snapshot_reference`. Returns the number of snapshot files per label (every label of DEFECTS
    and "clean"; reference frames not counted).

    Streams: a camera's pictures are written as they are made. `workers` processes render cameras in parallel
    (default: one per CPU up to MAX_WORKERS from PARALLEL_FROM_CAMERAS cameras on, else in this process); the
    files and the manifest are the same whatever the number.
    """
    out = Path(out)
    width, height = scale.snapshot_size
    ymd = _as_date(day).strftime("%Y%m%d")
    regime = world.rng(f"snapshot:weather:{ymd}")
    rain, haze = float(regime.choice(RAIN_SHARES)), float(regime.choice(HAZE_SHARES))
    ids = sorted({str(c["device_id"]) for c in cameras})
    per_camera = int(scale.snapshots_per_camera)

    # Pass 1, without pictures: which snapshots get which defect. The rank is by per-camera random keys, so the
    # deal does not depend on the order of `cameras`.
    plans = {d: _plan(world, d, ymd, per_camera, rain, haze) for d in ids}
    ranked = sorted((p.keys[k], d, k) for d, p in plans.items() for k in range(per_camera))
    n_defects = int(round(world.faults.snapshots.defect * len(ranked)))
    defect_of = {(d, k): DEFECTS[i % len(DEFECTS)] for i, (_, d, k) in enumerate(ranked[:n_defects])}
    jobs = [_Job(d, plans[d], tuple(defect_of.get((d, k)) for k in range(per_camera))) for d in ids]

    (out / "snapshots" / "reference").mkdir(parents=True, exist_ok=True)
    (out / "snapshots" / ymd).mkdir(parents=True, exist_ok=True)
    context = _Day(world, width, height, ymd, out)
    counts = Counter({label: 0 for label in ("clean",) + DEFECTS})

    def record(entries: list[tuple]) -> None:
        for device_id, relpath, kind, label, condition, defect, same_as in entries:
            manifest.file(relpath, kind, 1, camera=device_id, condition=condition, label=label)
            if kind == "snapshot":
                counts[label] += 1
            if defect:
                extra = {"same_as": same_as} if same_as else {}
                manifest.fault("snapshot_defect", relpath, key=device_id, reason=defect, **extra)

    def progress(n: int) -> None:
        if n % PROGRESS_EVERY == 0 or n == len(jobs):
            logger.info("snapshots %s: %d/%d cameras", ymd, n, len(jobs))

    # Pass 2: the pictures, camera by camera.
    n_workers = _worker_count(workers, len(jobs))
    done = 0
    if n_workers > 1:
        try:
            # fork: workers start at once and need no importable __main__ (spawn would re-run a script's body).
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            context_mp = multiprocessing.get_context(method)
            with ProcessPoolExecutor(n_workers, mp_context=context_mp, initializer=_init_worker,
                                     initargs=(context,)) as pool:
                chunk = max(1, min(32, len(jobs) // (n_workers * 8)))
                for entries in pool.map(_camera_files_in_worker, jobs, chunksize=chunk):
                    record(entries)
                    done += 1
                    progress(done)
        except (OSError, BrokenProcessPool) as error:      # no processes here: carry on in this one
            logger.warning("snapshot workers unavailable (%s); rendering in-process", error)
    for job in jobs[done:]:
        record(_camera_files(context, job))
        done += 1
        progress(done)
    return dict(counts)
