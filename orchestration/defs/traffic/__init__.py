"""Traffic: checkpoint passes, detectors and their flows, traffic incidents."""
import dagster as dg

from safecity.orchestration.defs.traffic.assets import detector_flows, detectors, traffic_incidents, vehicle_passes


def definitions(context) -> dg.Definitions:
    return dg.Definitions(assets=[vehicle_passes, detectors, detector_flows, traffic_incidents])
