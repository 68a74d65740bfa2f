"""Who may use the admin and metadata endpoints: holders of the admin bearer token.

Without a configured token those endpoints are refused to everyone (secure by default); the
token comes from a setting or a file (a container secret) and is compared in constant time.
"""

import secrets
from collections.abc import Callable
from pathlib import Path

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

# FastAPI's scheme: it reads `Authorization: Bearer ...` and documents it in the OpenAPI schema.
_bearer = HTTPBearer(auto_error=False, description="The admin token (setting admin_token).")


class AdminTokenError(ValueError):
    """The configured token file cannot be used; the message names it."""


def read_token(token: str | None, token_file: Path | None) -> str | None:
    """The configured admin token: the setting, else the file's first line; None when neither."""
    if token:
        return token
    if token_file is None:
        return None
    try:
        lines = token_file.read_text().splitlines()
    except OSError as error:
        msg = f"admin_token_file {token_file}: {error.strerror}"
        raise AdminTokenError(msg) from None
    if not lines or not lines[0].strip():
        msg = f"admin_token_file {token_file} is empty"
        raise AdminTokenError(msg)
    return lines[0].strip()


def admin_guard(token: str | None) -> Callable[..., None]:
    """A FastAPI dependency refusing requests without the token (all requests, if none is set)."""
    expected = token.encode() if token else None

    def require_admin(
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    ) -> None:
        if expected is None:
            raise HTTPException(
                403, "admin endpoints are disabled: set the admin_token setting to enable them"
            )
        given = credentials.credentials.encode() if credentials is not None else b""
        if not secrets.compare_digest(given, expected):
            raise HTTPException(
                401, "a valid admin token is required", headers={"WWW-Authenticate": "Bearer"}
            )

    return require_admin
