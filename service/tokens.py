"""OAuth2 client-credentials tokens: short-lived HS256 JWTs. The signing key comes from SAFECITY_SERVICE_KEY in
production; the embedded default generates one in the state folder (service/signing.key, owner-only)."""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import jwt

from safecity.config.profiles import Settings

KEY_VARIABLE = "SAFECITY_SERVICE_KEY"
ISSUER = "safecity-data-service"
LIFETIME_SECONDS = 900


def signing_key(settings: Settings) -> str:
    if os.environ.get(KEY_VARIABLE):
        return os.environ[KEY_VARIABLE]
    path: Path = settings.paths.home / "service" / "signing.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def issue(key: str, client_id: str, lifetime: int = LIFETIME_SECONDS, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    return jwt.encode({"sub": client_id, "iss": ISSUER, "iat": issued, "exp": issued + lifetime}, key,
                      algorithm="HS256")


def subject(key: str, token: str) -> str:
    """The client id of a valid token; raises jwt.InvalidTokenError (expired, forged, malformed)."""
    claims = jwt.decode(token, key, algorithms=["HS256"], issuer=ISSUER, options={"require": ["exp", "sub", "iss"]})
    return claims["sub"]
