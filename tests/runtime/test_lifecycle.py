"""Aliases, promotion, rollback and their history, through the registry and the CLI."""

from __future__ import annotations

import errno
import os
import re
import socket
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from data_product_runtime import Project
from data_product_runtime.cli import build_cli
from data_product_runtime.core.aliases import AliasError, AliasMove, rollback_target, version_at
from data_product_runtime.io.local_registry import HISTORY_FILE, LocalModelRegistry
from data_product_runtime.io.registry import (
    AliasMoveError,
    ModelNotFoundError,
    ModelRegistryError,
)

runner = CliRunner()
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _move(version: str, hours: int, kind: str = "promote", alias: str = "production") -> AliasMove:
    return AliasMove.model_validate(
        {
            "alias": alias,
            "previous": None,
            "version": version,
            "actor": "test",
            "at": T0 + timedelta(hours=hours),
            "kind": kind,
        }
    )


def test_rollback_walks_back_through_promotions_not_rollbacks() -> None:
    history = [_move("a", 0), _move("b", 1), _move("c", 2)]
    assert rollback_target(history, "production") == "b"
    history.append(_move("b", 3, kind="rollback"))
    assert rollback_target(history, "production") == "a"
    history.append(_move("a", 4, kind="rollback"))
    with pytest.raises(AliasError, match="points to a and there is no earlier version"):
        rollback_target(history, "production")


def test_rollback_of_an_alias_never_set() -> None:
    with pytest.raises(AliasError, match="it was never set"):
        rollback_target([_move("a", 0, alias="candidate")], "production")


def test_what_served_at_a_given_time() -> None:
    history = [_move("a", 0), _move("b", 24), _move("a", 48, kind="rollback")]
    assert version_at(history, "production", T0 - timedelta(hours=1)) is None
    assert version_at(history, "production", T0 + timedelta(hours=30)) == "b"
    assert version_at(history, "production", T0 + timedelta(hours=50)) == "a"


@pytest.fixture
def app(project: Project) -> typer.Typer:
    return build_cli(project)


@pytest.fixture
def registry(app: typer.Typer, tmp_path: Path) -> LocalModelRegistry:
    root = tmp_path / "models"
    for _ in range(3):
        assert runner.invoke(app, ["train", "--model-dir", str(root)]).exit_code == 0
    return LocalModelRegistry(root)


def test_training_points_the_candidate_at_the_new_version(registry: LocalModelRegistry) -> None:
    assert registry.aliases() == {"candidate": registry.versions()[-1]}
    assert registry.resolve("candidate") == registry.versions()[-1]


def test_promote_and_rollback_keep_a_history(registry: LocalModelRegistry) -> None:
    first, second, third = registry.versions()
    registry.promote(first, "production", actor="alice")
    registry.promote("candidate", "production", actor="bob")
    assert registry.resolve("production") == third
    assert registry.resolve(None) == third  # the service serves production by default
    move = registry.rollback("production", actor="carol")
    assert (move.previous, move.version, move.kind) == (third, first, "rollback")
    assert registry.resolve("production") == first
    moves = [(m.alias, m.previous, m.version, m.actor, m.kind) for m in registry.history()]
    assert moves[-3:] == [
        ("production", None, first, "alice", "promote"),
        ("production", first, third, "bob", "promote"),
        ("production", third, first, "carol", "rollback"),
    ]
    assert second not in registry.aliases().values()


@pytest.mark.parametrize(
    ("reference", "alias", "error", "message"),
    [
        ("nope", "production", ModelNotFoundError, "no model version or alias 'nope'"),
        ("candidate", "Prod!", AliasMoveError, "'Prod!' is not a valid alias"),
    ],
)
def test_bad_promotions_are_refused(
    registry: LocalModelRegistry, reference: str, alias: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        registry.promote(reference, alias)
    assert "production" not in registry.aliases()


def test_promoting_to_the_current_version_is_refused(registry: LocalModelRegistry) -> None:
    registry.promote("candidate", "production")
    with pytest.raises(AliasMoveError, match="already points to"):
        registry.promote("candidate", "production")


@pytest.mark.parametrize(
    "damage",
    [b"{not json\n", b'{"alias": "\xff\xfe"}\n', b'{"alias": "production", "prev'],
    ids=["not-json", "undecodable-bytes", "torn-line"],
)
def test_a_corrupt_history_is_reported_with_its_line(
    registry: LocalModelRegistry, app: typer.Typer, damage: bytes
) -> None:
    line = len(registry.history()) + 1
    with (registry.root / HISTORY_FILE).open("ab") as history:
        history.write(damage)
    message = f"{HISTORY_FILE}, line {line}: not an alias move (damaged)"
    with pytest.raises(ModelRegistryError, match=re.escape(message)):
        registry.aliases()
    shown = runner.invoke(app, ["models", "history", "--model-dir", str(registry.root)])
    assert shown.exit_code == 1
    assert len(shown.output.strip().splitlines()) == 1
    assert "fix or delete this line to recover" in shown.output


def test_a_rollback_the_history_cannot_explain_is_reported() -> None:
    with pytest.raises(AliasError, match="history is inconsistent: the rollback of 'production'"):
        rollback_target([_move("a", 0, kind="rollback")], "production")
    with pytest.raises(AliasError, match="returns to c, which 'production' did not hold before"):
        rollback_target(
            [_move("a", 0), _move("b", 1), _move("c", 2, kind="rollback")], "production"
        )


def test_a_failed_history_write_moves_nothing_and_leaves_no_torn_line(
    registry: LocalModelRegistry, app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a full disk: part of the line is written, then the next write fails."""
    path = registry.root / HISTORY_FILE
    before, aliases = path.read_bytes(), registry.aliases()
    real_write = os.write

    def write_half_then_fail(descriptor: int, data: bytes) -> int:
        if len(data) > 10:
            return real_write(descriptor, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", write_half_then_fail)
    result = runner.invoke(app, ["promote", "candidate", "--model-dir", str(registry.root)])
    monkeypatch.undo()
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: 'production' not moved: cannot write {path}: No space left on device"
    ]
    assert path.read_bytes() == before
    assert registry.aliases() == aliases
    assert registry.promote("candidate", "production").version == registry.versions()[-1]


def test_concurrent_moves_read_the_history_they_append_to(registry: LocalModelRegistry) -> None:
    """A second process's promotion waits for the first, then sees what the first did."""
    first, second, _ = registry.versions()
    other = LocalModelRegistry(registry.root)  # its own lock file descriptor, like a process
    with registry.moving():
        waiting = threading.Thread(target=other.promote, args=(second, "production"))
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive(), "the second move did not wait for the lock"
        registry.record_move(_move(first, 0))
    waiting.join(timeout=30)
    previous = [move.previous for move in registry.history() if move.alias == "production"]
    assert previous == [None, first]
    assert registry.rollback().version == first


def test_only_complete_versions_are_listed_and_foreign_entries_are_ignored(
    registry: LocalModelRegistry,
) -> None:
    versions = registry.versions()
    (registry.root / "notes").mkdir()
    (registry.root / "README.txt").write_text("hand-written")
    (registry.root / "20990101-000000-000000").mkdir()  # a version whose files never came
    assert registry.versions() == versions
    assert registry.latest() == versions[-1]


def test_a_killed_save_is_cleaned_up_by_the_next_one(
    registry: LocalModelRegistry, app: typer.Typer
) -> None:
    child = subprocess.Popen(["true"])  # its pid no longer runs once waited for
    child.wait()
    abandoned = registry.root / f".incoming-{socket.gethostname()}-{child.pid}-abc123"
    abandoned.mkdir()
    (abandoned / "model.skops").write_bytes(b"half of a model")
    alive = registry.root / f".incoming-{socket.gethostname()}-{os.getpid()}-def456"
    alive.mkdir()
    assert runner.invoke(app, ["train", "--model-dir", str(registry.root)]).exit_code == 0
    assert not abandoned.exists()
    assert alive.exists(), "a save still running must be left alone"


def test_what_users_typed_is_shown_as_typed_never_obeyed(
    registry: LocalModelRegistry, app: typer.Typer
) -> None:
    """An actor name cannot restyle the audit table or move the cursor to forge a line."""
    actor = "[bold red]admin[/bold red]\x1b[2K\rforged"
    root = str(registry.root)
    assert (
        runner.invoke(
            app, ["promote", "candidate", "--actor", actor, "--model-dir", root]
        ).exit_code
        == 0
    )
    history = runner.invoke(app, ["models", "history", "--model-dir", root], terminal_width=200)
    assert "[bold red]admin[/bold red]" in history.output
    assert "\x1b" not in history.output
    refused = runner.invoke(app, ["promote", "\x1b[31mnope", "--model-dir", root])
    assert refused.exit_code == 1
    assert "\x1b" not in refused.output
    assert "\\x1b[31mnope" in refused.output


def test_cli_promote_rollback_and_history(registry: LocalModelRegistry, app: typer.Typer) -> None:
    root = str(registry.root)
    first, _, third = registry.versions()
    result = runner.invoke(app, ["promote", first, "--model-dir", root, "--actor", "alice"])
    assert result.exit_code == 0, result.output
    assert f"production: (unset) -> {first}" in result.output
    assert runner.invoke(app, ["promote", third, "--model-dir", root]).exit_code == 0
    result = runner.invoke(app, ["rollback", "--model-dir", root])
    assert result.exit_code == 0, result.output
    assert f"production: {third} -> {first} (rolled back)" in result.output

    listing = runner.invoke(app, ["models", "list", "--model-dir", root], terminal_width=200)
    assert listing.exit_code == 0, listing.output
    assert all(version in listing.output for version in registry.versions())
    assert "production" in listing.output

    history = runner.invoke(app, ["models", "history", "--model-dir", root], terminal_width=200)
    assert "alice" in history.output
    assert "rollback" in history.output
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat(timespec="seconds")[:19]
    at = runner.invoke(
        app, ["models", "history", "--alias", "production", "--at", soon, "--model-dir", root]
    )
    assert at.output.strip() == first

    shown = runner.invoke(app, ["models", "show", "production", "--model-dir", root])
    assert f'"version": "{first}"' in shown.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["promote", "nope"], "no model version or alias 'nope'"),
        (["rollback"], "cannot roll back 'production': it was never set"),
        (["models", "show", "nope"], "no model version or alias 'nope'"),
        (["models", "history", "--at", "2026-01-01"], "--at needs --alias"),
    ],
)
def test_cli_errors_are_one_clear_line(
    registry: LocalModelRegistry, app: typer.Typer, arguments: list[str], message: str
) -> None:
    result = runner.invoke(app, [*arguments, "--model-dir", str(registry.root)])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
