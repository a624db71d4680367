"""Downstream clients and their rights (下游客户端及权限), as data: config/clients.yaml on the default site.

Each client has an id, a secret stored only as an scrypt hash, the gold tables it may read ("*" for all), its
jurisdiction (city, a branch's 6-digit division code or a station's 12-digit code: the row scope it gets) and its
clearance (the highest sensitivity class it sees; columns above it are withheld unless gold publishes them masked).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from safecity.config.profiles import Settings
from safecity.config.yamlfile import load_yaml, parse_model

CLASSES = ("public", "internal", "sensitive", "secret")
_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}


class Client(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{2,63}$")]
    name_zh: str
    name_en: str
    secret_hash: Annotated[str, Field(pattern=r"^scrypt\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$")]
    tables: list[str] = Field(min_length=1)
    level: Literal["city", "branch", "station"]
    unit: str | None = None
    clearance: Literal["public", "internal", "sensitive", "secret"]
    requests_per_minute: Annotated[int, Field(gt=0)] = 120

    @model_validator(mode="after")
    def _unit_fits_level(self) -> "Client":
        digits = {"city": None, "branch": 6, "station": 12}[self.level]
        if digits is None and self.unit is not None:
            raise ValueError("a city-level client has no unit")
        if digits is not None and not (self.unit and self.unit.isdigit() and len(self.unit) == digits):
            raise ValueError(f"a {self.level} client needs a {digits}-digit unit code")
        return self

    def may_read(self, table: str) -> bool:
        return "*" in self.tables or table in self.tables

    def sees(self, sensitivity: str) -> bool:
        return CLASSES.index(sensitivity) <= CLASSES.index(self.clearance)


class ClientsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clients: list[Client]


def clients_path(settings: Settings) -> Path:
    """Where the site keeps its clients: `<site>/clients.yaml`."""
    return settings.site.clients_file


def load_clients(settings: Settings, path: Path | None = None) -> dict[str, Client]:
    document = load_yaml(path or clients_path(settings))
    return {c.id: c for c in parse_model(document, ClientsFile).clients}


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    _, salt, digest = stored.split("$")
    computed = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt), **_SCRYPT)
    return hmac.compare_digest(computed, base64.b64decode(digest))


def new_secret() -> tuple[str, str]:
    """A fresh client secret and its hash (the hash goes in the clients file, the secret to the client once)."""
    secret = secrets.token_urlsafe(32)
    return secret, hash_secret(secret)
