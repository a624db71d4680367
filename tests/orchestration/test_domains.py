"""The code location is assembled from its domain folders, not from a list: every domain's definitions are found,
and a new folder with a `definitions` function joins the graph without an edit anywhere else."""
import dagster as dg

from safecity.orchestration import defs
from safecity.orchestration.defs import DomainContext, domain_definitions

# Ingestion is not a domain folder: its assets come from the site's mappings (defs/ingestion.py, test_site_folder).
DOMAINS = {"cameras", "events", "lakehouse", "rules", "standards", "transforms"}


def context(settings, catalogue):
    # The dbt project is only read by the transforms domain; the others must not need it.
    return DomainContext(settings, catalogue, dbt=None)


def test_every_domain_folder_is_found(settings, catalogue, monkeypatch):
    monkeypatch.setattr("safecity.orchestration.defs.transforms.definitions", lambda c: dg.Definitions())
    found = domain_definitions(context(settings, catalogue))
    assert set(found) == DOMAINS
    keys = {k.to_user_string() for d in found.values() for a in d.assets or [] for k in a.keys}
    assert {"silver/camera_state", "ops/outbox", "reference/divisions"} <= keys
    assert not any(k.startswith("bronze/") for k in keys)


def test_a_new_domain_folder_joins_without_editing_a_list(settings, catalogue, tmp_path, monkeypatch):
    package = tmp_path / "parking"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import dagster as dg\n\n"
        "@dg.asset(key=['silver', 'parking_space'], group_name='parking')\n"
        "def parking_spaces():\n    return None\n\n"
        "def definitions(context):\n    return dg.Definitions(assets=[parking_spaces])\n", encoding="utf-8")
    monkeypatch.setattr(defs, "__path__", [*defs.__path__, str(tmp_path)])
    monkeypatch.setattr("safecity.orchestration.defs.transforms.definitions", lambda c: dg.Definitions())
    found = domain_definitions(context(settings, catalogue))
    assert set(found) == DOMAINS | {"parking"}
    assert [k.to_user_string() for k in found["parking"].assets[0].keys] == ["silver/parking_space"]
