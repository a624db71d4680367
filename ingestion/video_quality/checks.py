"""One measure per video-quality defect, each a plain number computed on a `Frame` (the snapshot at working size).

Measures, not verdicts: thresholds live in config/video_quality.yaml and are applied in diagnose.py. Every measure is
taken on the picture scaled to a fixed working width, so one set of thresholds serves 640 x 360 and 1920 x 1080
cameras alike, and rows in the OSD bands (burned-in time and channel name) are left out where text would disturb
the measure.
"""
from dataclasses import dataclass
from functools import cached_property, lru_cache

import cv2
import numpy as np

WORK_WIDTH = 480                # pixels: the width every measure is taken at
OSD_BAND = 0.08                 # share of rows at the top and at the bottom that may hold burned-in OSD text
BLOCK = 12                      # pixels of a square block at working width (1/40 of it) for flatness measures
FLAT_STD = 2.0                  # grey standard deviation under which a block counts as flat (an out-of-focus cover)
THUMB = (160, 120)              # pixels: the picture scaled for phase correlation (shifts are reported at WORK_WIDTH)
_GREY_BGR = np.array([0.114, 0.587, 0.299], np.float32)


@dataclass(frozen=True)
class Frame:
    """A snapshot (BGR uint8) at working width; derived pictures are computed once, when a measure first asks."""

    bgr: np.ndarray

    @classmethod
    def of(cls, image: np.ndarray) -> "Frame":
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 picture, got shape {image.shape} dtype {image.dtype}")
        h, w = image.shape[:2]
        if w != WORK_WIDTH:
            size = (WORK_WIDTH, max(16, int(round(h * WORK_WIDTH / w))))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if w > WORK_WIDTH else cv2.INTER_LINEAR)
        return cls(image)

    @cached_property
    def band(self) -> int:
        return int(self.bgr.shape[0] * OSD_BAND) + 1

    @cached_property
    def inner_bgr(self) -> np.ndarray:
        return self.bgr[self.band:-self.band]

    @cached_property
    def grey(self) -> np.ndarray:
        """Grey of the rows between the OSD bands."""
        return cv2.cvtColor(self.inner_bgr, cv2.COLOR_BGR2GRAY)

    @cached_property
    def block_std(self) -> np.ndarray:
        """Grey standard deviation per BLOCK x BLOCK block."""
        g = self.grey.astype(np.float32)
        rows, cols = g.shape[0] // BLOCK, g.shape[1] // BLOCK
        g = g[:rows * BLOCK, :cols * BLOCK]
        mean = cv2.resize(g, (cols, rows), interpolation=cv2.INTER_AREA)
        square = cv2.resize(g * g, (cols, rows), interpolation=cv2.INTER_AREA)
        return np.sqrt(np.maximum(square - mean * mean, 0.0))

    @cached_property
    def memo(self) -> dict:
        """Measures already taken on this frame (baseline.measure): the diagnosis and the baseline update share
        them."""
        return {}

    @cached_property
    def block_laplacian(self) -> np.ndarray:
        """Mean squared Laplacian (fine detail) per BLOCK x BLOCK block."""
        lap = cv2.Laplacian(self.grey, cv2.CV_32F)
        rows, cols = lap.shape[0] // BLOCK, lap.shape[1] // BLOCK
        lap = lap[:rows * BLOCK, :cols * BLOCK]
        return cv2.resize(lap * lap, (cols, rows), interpolation=cv2.INTER_AREA)

    @cached_property
    def edges(self) -> np.ndarray:
        return cv2.Canny(cv2.GaussianBlur(self.grey, (0, 0), 1.0), 40, 100)

    @cached_property
    def thumb(self) -> np.ndarray:
        """Gradient magnitude of the picture at THUMB size, for phase correlation: structure, not light, so that a
        view matches itself from day to night."""
        g = cv2.resize(self.grey, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)
        return cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))

    @cached_property
    def near_edges(self) -> np.ndarray:
        """edge_neighbourhoods of this frame, kept: a reference frame serves every snapshot of its camera."""
        return edge_neighbourhoods(self)


def grey_mean(frame: Frame) -> float:
    """Mean grey level (0..255) between the OSD bands: too dark below, too bright above."""
    return float(frame.grey.mean())


def uniform_share(frame: Frame, tolerance: int = 12) -> float:
    """Share of pixels within `tolerance` levels (every channel) of the picture's median colour: a recorder's blue
    or black screen is one colour but for a small "NO SIGNAL" text."""
    pixels = frame.bgr[::3, ::3]
    median = np.median(pixels.reshape(-1, 3), axis=0)
    inside = cv2.inRange(pixels, np.clip(median - tolerance, 0, 255), np.clip(median + tolerance, 0, 255))
    return cv2.countNonZero(inside) / inside.size


def cast_factor(frame: Frame) -> float:
    """Lab equivalent-circle cast factor K = D / M (VQD color_deviation.py): the mean chroma's distance from grey
    over the mean spread of chroma around it."""
    lab = cv2.cvtColor(frame.inner_bgr[::3, ::3], cv2.COLOR_BGR2LAB).astype(np.float32)
    a, b = lab[..., 1] - 128.0, lab[..., 2] - 128.0
    da, db = float(a.mean()), float(b.mean())
    spread = float(np.hypot(np.abs(a - da).mean(), np.abs(b - db).mean()))
    return float(np.hypot(da, db) / max(spread, 1e-6))


def sharpness(frame: Frame, share: float = 0.25) -> float:
    """Variance of the Laplacian over the most detailed `share` of blocks. Over the detailed blocks only, so that a
    picture partly covered or with a large sky is not taken for a blurred one: defocus softens every block."""
    energy = frame.block_laplacian.ravel()
    top = max(1, int(len(energy) * share))
    return float(np.partition(energy, len(energy) - top)[-top:].mean())


def snow(frame: Frame) -> float:
    """Mean absolute residual of a 3 x 3 median filter: isolated flakes and grain, not edges (a median keeps them)."""
    g = frame.grey
    return float(cv2.absdiff(g, cv2.medianBlur(g, 3)).mean())


@lru_cache(maxsize=8)
def _spectrum_constants(rows: int, cols: int, min_period: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hann window rows and columns, and the mask of frequencies too low to be interference (unshifted layout)."""
    fy, fx = np.fft.fftfreq(rows)[:, None], np.fft.fftfreq(cols)[None, :]
    return (np.hanning(rows).astype(np.float32), np.hanning(cols).astype(np.float32),
            np.hypot(fy, fx) < 1.0 / min_period)


def _fast_size(n: int) -> int:
    """The largest size <= n with no prime factor above 5 (a DFT of a prime size is several times slower)."""
    for m in range(n, 0, -1):
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
    return n


def _strongest_wave(g: np.ndarray, min_period: float) -> tuple[float, float]:
    """Frequency (cycles per pixel down, across) of the strongest wave in a grey picture, from its Hann-windowed
    spectrum; waves longer than `min_period` pixels are the scene's light and shade, not interference."""
    rows, cols = _fast_size(g.shape[0]), _fast_size(g.shape[1])
    g = g[:rows, :cols]
    wy, wx, low = _spectrum_constants(rows, cols, min_period)
    spectrum = cv2.dft((g - g.mean()) * wy[:, None] * wx[None, :], flags=cv2.DFT_COMPLEX_OUTPUT)
    energy = spectrum[..., 0] ** 2 + spectrum[..., 1] ** 2
    energy[low] = 0
    y, x = np.unravel_index(int(energy.argmax()), energy.shape)
    return float(np.fft.fftfreq(rows)[y]), float(np.fft.fftfreq(cols)[x])


def stripe_amplitude(frame: Frame, grid: tuple[int, int] = (3, 3), min_period_share: float = 0.0625) -> float:
    """Amplitude (grey levels) of the picture's strongest periodic wave in the tile where it is weakest.

    Interference lies over the whole picture, sky and road included, so every tile carries the same wave; a
    scene's own periodic structure (window grids, lane marks) lies in some tiles only. Waves longer than
    `min_period_share` of the width are left out (interference bands are narrower)."""
    g = frame.grey.astype(np.float32)
    fy, fx = _strongest_wave(g, min_period_share * WORK_WIDTH)
    th, tw = g.shape[0] // grid[0], g.shape[1] // grid[1]
    wy, wx, _ = _spectrum_constants(th, tw, 1.0)
    weakest = float("inf")
    # Each tile's Fourier coefficient at the wave's exact frequency (A for A sin()); the wave is separable, so a
    # tile's coefficient is two small real matrix products.
    window_sum = float(wy.sum() * wx.sum())
    for r in range(grid[0]):
        y = np.arange(r * th, (r + 1) * th)
        cy, sy = (wy * np.cos(2 * np.pi * fy * y)).astype(np.float32), (wy * np.sin(2 * np.pi * fy * y)).astype(np.float32)
        for c in range(grid[1]):
            tile = g[r * th:(r + 1) * th, c * tw:(c + 1) * tw]
            tile = tile - tile.mean()
            x = np.arange(c * tw, (c + 1) * tw)
            cx = (wx * np.cos(2 * np.pi * fx * x)).astype(np.float32)
            sx = (wx * np.sin(2 * np.pi * fx * x)).astype(np.float32)
            ac, as_ = tile @ cx, tile @ sx
            # cos(a+b) = cos a cos b - sin a sin b; sin(a+b) = sin a cos b + cos a sin b
            real = float(cy @ ac - sy @ as_)
            imag = float(sy @ ac + cy @ as_)
            weakest = min(weakest, 2.0 * float(np.hypot(real, imag)) / window_sum)
    return weakest


def flat_share(frame: Frame) -> float:
    """Share of blocks without texture (grey standard deviation under FLAT_STD)."""
    return float((frame.block_std < FLAT_STD).mean())


def still_difference(frame: Frame, previous: Frame, osd_tiles: int = 8) -> float:
    """Mean absolute grey difference from the camera's previous snapshot (0 for the same picture): traffic and
    sensor grain always change a live picture a little. The OSD bands count by their most changed tile: a camera
    whose overlay clock advances is alive even when its view is still (a stalled encoder stops the clock too)."""
    if frame.grey.shape != previous.grey.shape:
        return float("inf")
    inner = float(cv2.absdiff(frame.grey, previous.grey).mean())
    b = frame.band
    bands = np.vstack([frame.bgr[:b], frame.bgr[-b:]]).astype(np.int16)
    before = np.vstack([previous.bgr[:b], previous.bgr[-b:]]).astype(np.int16)
    change = np.abs(bands - before).mean(axis=(0, 2))
    tile = max(1, len(change) // osd_tiles)
    return max(inner, max(float(change[i:i + tile].mean()) for i in range(0, len(change), tile)))


ORIENTATIONS = 8                # bins of edge direction over 180 degrees


def _orientation_bins(grey: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Direction bin (0..ORIENTATIONS-1, modulo 180 degrees so that a polarity flip keeps its bin) of the pixels at
    `where` (index arrays)."""
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)[where]
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)[where]
    angle = np.arctan2(gy, gx) % np.pi
    return np.minimum((angle * (ORIENTATIONS / np.pi)).astype(np.uint8), ORIENTATIONS - 1)


def edge_neighbourhoods(frame: Frame, reach: int = 5) -> np.ndarray:
    """uint8 map whose bit b says an edge of direction bin b or a neighbouring bin lies within `reach` pixels.
    Computed once per reference frame and kept with it."""
    where = np.nonzero(frame.edges)
    bins = _orientation_bins(frame.grey, where)
    kernel = np.ones((reach, reach), np.uint8)
    bits = np.zeros(frame.edges.shape, np.uint8)
    for b in range(ORIENTATIONS):
        own = np.zeros(frame.edges.shape, np.uint8)
        near_bins = (b - 1) % ORIENTATIONS, b, (b + 1) % ORIENTATIONS
        keep = np.isin(bins, near_bins)
        own[where[0][keep], where[1][keep]] = 1
        bits |= cv2.dilate(own, kernel) << b
    return bits


def edge_agreement(frame: Frame, reference: Frame, near: np.ndarray | None = None) -> float:
    """Share of the picture's edges lying near an edge of the same direction in the reference frame. Structure,
    not descriptors: at night lit shop fronts and the sky change polarity and ORB matches fall away, edges stay;
    a knocked camera also rolls, so its edges no longer run the same way."""
    if frame.edges.shape != reference.edges.shape:
        return 0.0
    near = near if near is not None else edge_neighbourhoods(reference)
    where = np.nonzero(frame.edges)
    if len(where[0]) == 0:
        return 0.0
    bins = _orientation_bins(frame.grey, where)
    return float(((near[where] >> bins) & 1).mean())


# Measures taken against a camera's baseline (baseline.py). They are invariant to what a camera's own normal varies
# by (its light, its contrast), so that its normal spread is narrow and a defect stands out of it.

_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def highlights(frame: Frame, share: float = 0.2) -> float:
    """Grey level that the brightest `share` of the picture reaches: a dark picture is dark in its bright parts too,
    while a dark cover over half the view leaves them as they were."""
    counts = cv2.calcHist([frame.grey], [0], None, [256], [0, 256]).ravel().cumsum()
    return float(np.searchsorted(counts, counts[-1] * (1.0 - share)))


def contrast(frame: Frame) -> float:
    """Grey standard deviation between the OSD bands (RMS contrast, grey levels)."""
    return float(frame.grey.std())


def noise_sigma(frame: Frame) -> float:
    """Sensor noise sigma (grey levels at working width), Immerkaer's fast estimator made robust to texture: the
    mask N = [1 -2 1; -2 4 -2; 1 -2 1] cancels smooth shading, and the mean of |I*N| over the flatter half of the
    picture is sqrt(2/pi) * 6 sigma for Gaussian noise (Immerkaer 1996, "Fast noise variance estimation"; leaving
    out the half with the strongest gradient keeps edges and texture from counting as noise)."""
    g = frame.grey.astype(np.float32)
    response = np.abs(cv2.filter2D(g, -1, _IMMERKAER)[1:-1, 1:-1])
    # The scene's structure from a smoothed copy: the noise's own gradient must not pick the pixels measured.
    smooth = cv2.GaussianBlur(g, (0, 0), 2.0)
    gradient = cv2.Sobel(smooth, cv2.CV_32F, 1, 0)[1:-1, 1:-1] ** 2 + \
        cv2.Sobel(smooth, cv2.CV_32F, 0, 1)[1:-1, 1:-1] ** 2
    calm = response[gradient <= np.median(gradient)]
    return float(calm.mean() * np.sqrt(np.pi / 2.0) / 6.0)


def relative_sharpness(frame: Frame, share: float = 0.25) -> float:
    """Laplacian energy over grey variance in the most textured `share` of blocks: a darker or flatter picture of
    the same focus keeps its score (both scale with contrast), and a cover over part of the view is not among the
    blocks measured, while defocus takes the fine detail (Laplacian) far more than the blocks' variance."""
    energy = frame.block_laplacian.ravel()
    variance = (frame.block_std ** 2).ravel()
    top = np.argsort(variance)[-max(1, int(len(variance) * share)):]
    return float(energy[top].sum() / max(float(variance[top].sum()), 1.0))


@dataclass(frozen=True)
class Shift:
    pixels: float               # length of the translation at working width
    response: float             # phase correlation peak (0..1): how well the shifted pictures match


@lru_cache(maxsize=2)
def _hanning(size: tuple[int, int]) -> np.ndarray:
    return cv2.createHanningWindow(size, cv2.CV_32F)


def shift(frame: Frame, other: Frame) -> Shift:
    """Translation of the picture against another of the same camera, by phase correlation of their thumbnails."""
    (dx, dy), response = cv2.phaseCorrelate(other.thumb, frame.thumb, _hanning(THUMB))
    scale = WORK_WIDTH / THUMB[0]
    return Shift(float(np.hypot(dx, dy) * scale), float(response))
