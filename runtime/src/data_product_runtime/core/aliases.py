"""Model aliases (``production``, ``candidate``): the history of their moves, and what follows from it."""

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PRODUCTION = "production"
CANDIDATE = "candidate"
ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class AliasMove(BaseModel):
    """One change of an alias: who moved it, when, from which version to which, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alias: str = Field(pattern=ALIAS_PATTERN.pattern)
    previous: str | None
    version: str
    actor: str
    at: datetime
    kind: Literal["promote", "rollback"]


class AliasError(ValueError):
    """An alias cannot be moved as asked; the message says why."""


def check_alias_name(alias: str) -> str:
    if not ALIAS_PATTERN.match(alias):
        msg = f"'{alias}' is not a valid alias: use lowercase letters, digits, '-' or '_', starting with a letter"
        raise AliasError(msg)
    return alias


def held_versions(history: list[AliasMove], alias: str) -> list[str]:
    """The versions an alias has held, oldest first, with rolled-back versions removed."""
    held: list[str] = []
    for move in history:
        if move.alias != alias:
            continue
        if move.kind == "rollback":
            # A consistent history rolls back to the version held before; anything else was edited.
            if len(held) < 2 or held[-2] != move.version:  # noqa: PLR2004
                msg = (
                    f"the alias history is inconsistent: the rollback of '{alias}' at {move.at}"
                    f" returns to {move.version}, which '{alias}' did not hold before"
                )
                raise AliasError(msg)
            held.pop()
        else:
            held.append(move.version)
    return held


def rollback_target(history: list[AliasMove], alias: str) -> str:
    """The version an alias returns to on rollback: the one it held before the current one."""
    held = held_versions(history, alias)
    if len(held) < 2:  # noqa: PLR2004
        current = f"it points to {held[-1]}" if held else "it was never set"
        msg = f"cannot roll back '{alias}': {current} and there is no earlier version"
        raise AliasError(msg)
    return held[-2]


def version_at(history: list[AliasMove], alias: str, when: datetime) -> str | None:
    """Which version the alias pointed to at a moment ("what served on Tuesday?")."""
    current = None
    for move in history:
        if move.alias == alias and move.at <= when:
            current = move.version
    return current
