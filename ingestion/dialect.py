"""How a CSV export is written: delimiter, quoting, header row, leading rows to skip, decimal comma.

Declared in a source mapping under `csv:`; the defaults are RFC 4180 with a header row, which is what most
exports are. A header-less export (Taiwan TDCS M05A) names its columns here instead.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Characters an export may use between fields; a wrong declaration is caught by looking for these in the header.
DELIMITERS = (",", ";", "\t", "|")


class CsvDialect(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    delimiter: str = Field(",", min_length=1, max_length=1)
    quote: str | None = Field('"', min_length=1, max_length=1)
    # None: a quote inside a quoted field is doubled (RFC 4180); a character: it escapes the next one.
    escape: str | None = Field(None, min_length=1, max_length=1)
    # False: the file has no header row and `names` gives its columns in order.
    header: bool = True
    names: list[str] | None = None
    # Title lines, report banners and the like before the header (or the first record).
    skip_rows: int = Field(0, ge=0)
    # "1,5" means one and a half in number columns (European and some Chinese vendor exports).
    decimal_comma: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> "CsvDialect":
        if not self.header and not self.names:
            raise ValueError("a file without a header row (header: false) needs `names`, its columns in order")
        if self.header and self.names:
            raise ValueError("`names` is for files without a header row; with header: true the file names its columns")
        special = [c for c in (self.delimiter, self.quote, self.escape) if c is not None]
        if len(set(special)) != len(special) or any(c in "\r\n" for c in special):
            raise ValueError("delimiter, quote and escape must be different characters, none a line break")
        if self.decimal_comma and self.delimiter == ",":
            raise ValueError("decimal_comma needs a delimiter other than ',' (a comma cannot separate both)")
        return self

    @property
    def plain(self) -> bool:
        """RFC 4180 with a header and nothing skipped: the fast line-per-record parser applies."""
        return (self.delimiter, self.quote, self.escape, self.header, self.skip_rows) == (",", '"', None, True, 0)


RFC4180 = CsvDialect()


def delimiter_hint(header: list[str], declared: str) -> str | None:
    """The delimiter a one-column header was evidently written with, when it is not the declared one."""
    if len(header) != 1:
        return None
    for candidate in DELIMITERS:
        if candidate != declared and len([p for p in header[0].split(candidate) if p.strip()]) >= 2:
            return candidate
    return None
