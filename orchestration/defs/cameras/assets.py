"""Cameras: the tables the camera domain's own assets and policies read (the registry and keepalives are ingested
by the site's mappings, defs/ingestion.py)."""

import dagster as dg

# The table the camera policies read.
SILVER = dg.AssetKey(["silver", "camera"])
