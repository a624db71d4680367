"""Traffic: checkpoint passes (GA/T 1400 files and stream), detector 5-minute flows, traffic incidents."""

from safecity.orchestration.defs.ingestion import entity_ingestion

vehicle_passes = entity_ingestion("vehicle_pass", ["viid_motor_vehicles"], "traffic", "卡口过车记录", "Vehicle passes")
detector_flows = entity_ingestion("detector_flow", ["detector_flows_csv"], "traffic", "检测器流量", "Detector flows")
traffic_incidents = entity_ingestion("traffic_incident", ["traffic_incidents_jsonl"], "traffic", "交通事件",
                                     "Traffic incidents")
