"""Files generated from the standards catalogue: the dbt sources and the data dictionary.

Both are derived, never edited: `safecity standards dbt` and `safecity standards docs` write them, and the tests
fail when a committed copy no longer matches what the catalogue gives.
"""
from __future__ import annotations

from pathlib import Path

from safecity.ingestion.mapping import SOURCES_DIR, SourceMapping
from safecity.ingestion.tables import lineage_columns
from safecity.config.yamlfile import load_yaml, parse_model
from safecity.standards.catalogue import Catalogue
from safecity.standards.dictionary import render_html, render_markdown
from safecity.transforms.sources import SOURCES_FILE, render_sources

REPOSITORY_DOCS = Path(__file__).resolve().parent.parent / "docs"
DICTIONARY_MD = "data-dictionary.md"
DICTIONARY_HTML = "data-dictionary.html"


def ingested_entities() -> list[str]:
    """Entities the shipped mappings (the default site's config/sources/) fill: dbt's silver sources, and the silver
    tables every site has before dbt runs (empty where its own mappings do not fill them)."""
    return sorted({parse_model(load_yaml(p), SourceMapping).entity for p in SOURCES_DIR.glob("*.yaml")})


def dbt_sources_text(catalogue: Catalogue) -> str:
    return render_sources(catalogue, ingested_entities(), lineage_columns())


def write_dbt_sources(catalogue: Catalogue) -> Path:
    SOURCES_FILE.write_text(dbt_sources_text(catalogue), encoding="utf-8")
    return SOURCES_FILE


def write_dictionary(catalogue: Catalogue, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    markdown, page = out / DICTIONARY_MD, out / DICTIONARY_HTML
    markdown.write_text(render_markdown(catalogue), encoding="utf-8")
    page.write_text(render_html(catalogue), encoding="utf-8")
    return [markdown, page]
