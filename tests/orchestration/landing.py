"""The simulated day's landing area as the tests read it: the simulator's manifest and its files by kind."""
import json
from pathlib import Path


def manifest_and_files(settings) -> tuple[dict, dict[str, Path]]:
    landing = settings.paths.landing
    manifest = json.loads((landing / "manifest.json").read_text(encoding="utf-8"))
    return manifest, {f["kind"]: landing / name for name, f in manifest["files"].items()}
