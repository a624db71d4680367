"""The real public exports the tests onboard: copies of the files of ../shared/real-data the tests read, kept in
tests/data/real/exports (its MANIFEST.md says where each comes from, its licence and its quirks) so that a clean
clone tests against them. SAFECITY_REAL_DATA points the tests at another copy of the set."""
import os
from pathlib import Path

REAL_DATA = Path(os.environ.get("SAFECITY_REAL_DATA") or Path(__file__).parent / "data" / "real" / "exports")
# The mapping files that onboard them (mapping files only: no code per export).
MAPPINGS = Path(__file__).parent / "data" / "real"
