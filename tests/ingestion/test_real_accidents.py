"""A real accident export (tests/data/real/exports/accidents/edinburgh_2012_accident.csv, STATS19) onboarded with a mapping
file only (tests/data/real/edinburgh_accidents_csv.yaml): every row accounted for, and the figures by type, the
casualties and the accidents by month equal to an independent pandas calculation over the raw rows."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from safecity.ingestion.mapping import load_mapping
from safecity.ingestion.pipeline import FileIngestor
from safecity.lakehouse.catalog import open_catalog
from tests.real_data import REAL_DATA

REAL = REAL_DATA / "accidents/edinburgh_2012_accident.csv"
MAPPING = Path(__file__).resolve().parents[1] / "data" / "real" / "edinburgh_accidents_csv.yaml"
TYPE_OF_SEVERITY = {"Fatal": "fatal", "Serious": "injury", "Slight": "injury"}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, catalogue):
    from safecity.config.profiles import load_settings

    settings = load_settings("local", tmp_path_factory.mktemp("edinburgh") / "home")
    folder = settings.paths.landing / "accidents"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REAL, folder / REAL.name)
    ingestor = FileIngestor(open_catalog(settings), catalogue, load_mapping(MAPPING, catalogue), settings.paths.landing)
    report = ingestor.ingest(f"accidents/{REAL.name}")
    return report, ingestor.tables["silver"].refresh().scan().to_arrow().to_pandas(), \
        ingestor.tables["quarantine"].refresh().scan().to_arrow().to_pandas()


@pytest.fixture(scope="module")
def raw():
    return pd.read_csv(REAL, dtype=str, keep_default_na=False)


def test_every_row_is_accounted_for(ingested, raw):
    report, silver, quarantine = ingested
    assert report.received == len(raw) == 1163
    assert report.reconciled and report.silver + report.quarantined == len(raw)
    assert set(silver["_line"]) | set(quarantine["_line"]) == set(range(2, len(raw) + 2))
    repeated = raw["acc_ref"].duplicated().sum()
    assert report.quarantined == repeated  # only repeated references can be turned away: every field maps cleanly


def test_accident_figures_match_the_raw_rows(ingested, raw):
    _, silver, _ = ingested
    kept = raw.drop_duplicates("acc_ref")
    by_type = kept["severity"].map(TYPE_OF_SEVERITY).value_counts().to_dict()
    assert silver["accident_type"].value_counts().to_dict() == pytest.approx(by_type, rel=0.01)
    assert by_type == {"injury": 1150, "fatal": 13}
    assert silver["casualties"].sum() == pytest.approx(kept["no_casualt"].astype(int).sum(), rel=0.01)
    months = pd.to_datetime(kept["a_date"], format="%d/%m/%Y").dt.month.value_counts().sort_index().to_dict()
    local = silver["reported_at"].dt.tz_convert("Asia/Shanghai").dt.month.value_counts().sort_index().to_dict()
    assert local == pytest.approx(months, rel=0.01)
    assert sum(months.values()) == len(kept)
