"""Traffic: checkpoint passes (GA/T 1400 files and stream), the detector registry and the detectors' 5-minute flows,
traffic incidents."""

from safecity.orchestration.defs.ingestion import entity_ingestion

vehicle_passes = entity_ingestion("vehicle_pass", ["viid_motor_vehicles"], "traffic", "卡口过车记录", "Vehicle passes")
detectors = entity_ingestion("detector", ["detector_registry_csv"], "traffic", "交通流检测器", "Traffic detectors")
detector_flows = entity_ingestion("detector_flow", ["detector_flows_csv"], "traffic", "检测器流量", "Detector flows")
traffic_incidents = entity_ingestion("traffic_incident", ["traffic_incidents_jsonl"], "traffic", "交通事件",
                                     "Traffic incidents")
