"""Cameras: the registry, keepalives, snapshot diagnosis and camera state."""
import dagster as dg

from safecity.orchestration.defs.cameras.assets import camera_registry, device_status
from safecity.orchestration.defs.cameras.health import camera_state, snapshot_diagnosis


def definitions(context) -> dg.Definitions:
    return dg.Definitions(assets=[camera_registry, device_status, snapshot_diagnosis, camera_state])
