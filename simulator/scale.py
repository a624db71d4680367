"""How big a simulated city is: `small` generates in seconds for tests, `city` is Qinhuangdao-sized."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    cameras: int
    nvr_channels: int            # cameras per NVR (an NVR going down takes its channels with it)
    checkpoints: int
    passes_per_day: int
    detectors: int
    calls_per_day: int
    incidents_per_day: int
    snapshot_size: tuple[int, int]
    snapshots_per_camera: int
    heartbeat_minutes: int       # GB/T 28181 keepalive every 60 s; summarised per this many minutes
    pass_file_records: int       # MotorVehicle JSON files are written in batches of this many records


SCALES = {
    "small": Scale("small", cameras=240, nvr_channels=16, checkpoints=12, passes_per_day=24_000, detectors=30,
                   calls_per_day=150, incidents_per_day=20, snapshot_size=(640, 360), snapshots_per_camera=1,
                   heartbeat_minutes=15, pass_file_records=5_000),
    "city": Scale("city", cameras=20_000, nvr_channels=32, checkpoints=600, passes_per_day=5_000_000, detectors=2_000,
                  calls_per_day=1_500, incidents_per_day=120, snapshot_size=(1920, 1080), snapshots_per_camera=1,
                  heartbeat_minutes=60, pass_file_records=100_000),
}
