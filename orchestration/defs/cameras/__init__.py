"""Cameras: snapshot diagnosis, camera state and the network state above the cameras (in the network group) (the registry and keepalives come from the site's mappings)."""
import dagster as dg

from safecity.orchestration.defs.cameras.health import camera_state, network_state, snapshot_diagnosis


def definitions(context) -> dg.Definitions:
    return dg.Definitions(assets=[snapshot_diagnosis, camera_state, network_state])
