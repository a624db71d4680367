"""Cameras: the video platform's registry (CSV export and GB/T 28181 Catalog), community camera ledgers, and the
devices' keepalives and status notifications."""

import dagster as dg

from safecity.orchestration.defs.ingestion import entity_ingestion

camera_registry = entity_ingestion(
    "camera", ["video_platform_catalog_csv", "video_platform_catalog_json", "community_cameras_xlsx"], "cameras",
    "摄像机点位", "Cameras")
device_status = entity_ingestion(
    "device_status", ["gb28181_device_status"], "cameras", "设备心跳与状态通知", "Device keepalives and status reports")

# The table the camera policies read.
SILVER = dg.AssetKey(["silver", "camera"])
