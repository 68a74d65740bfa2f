"""The embedded registry backend: a folder on a local or mounted file system.

Layout under the root::

    <version>/model.skops      the fitted pipeline (skops: loading runs no pickled code)
    <version>/metadata.json    ModelMetadata, including the artifact's sha256
    alias-history.jsonl        one AliasMove per line, oldest first; the aliases follow from it
    .incoming-<host>-<pid>-*/  a save in progress; invisible until renamed into place, and
                               deleted by the next save once its process is gone

Anything else under the root is not a version and is ignored.
"""

import fcntl
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from data_product_runtime.core.aliases import AliasMove
from data_product_runtime.core.model import ModelMetadata
from data_product_runtime.io.faults import abandoned, append_whole
from data_product_runtime.io.registry import (
    VERSION_PATTERN,
    ArtifactRefusedError,
    ModelNotFoundError,
    ModelRegistry,
    ModelRegistryError,
)

ARTIFACT_FILE = "model.skops"
METADATA_FILE = "metadata.json"
HISTORY_FILE = "alias-history.jsonl"
_LOCK_FILE = ".lock"
_INCOMING_PREFIX = ".incoming-"


class LocalModelRegistry(ModelRegistry):
    """Versions as folders; every change becomes visible with one atomic rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def location(self) -> str:
        return f"{self.root}/"

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.root.iterdir()
            # Complete versions only; an alias naming a damaged one still reports what is missing.
            if VERSION_PATTERN.match(entry.name)
            and (entry / METADATA_FILE).is_file()
            and (entry / ARTIFACT_FILE).is_file()
        )

    def read_metadata(self, version: str) -> ModelMetadata:
        path = self._folder(version) / METADATA_FILE
        try:
            return ModelMetadata.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            msg = f"model {version}: {METADATA_FILE} is missing, so the artifact cannot be verified"
            raise ArtifactRefusedError(msg) from None
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the file"
            msg = f"model {version}: invalid {path}: {where}: {first['msg']}"
            raise ArtifactRefusedError(msg) from None
        except OSError as error:
            msg = f"model {version}: cannot read {path}: {error.strerror}"
            raise ArtifactRefusedError(msg) from None

    def read_artifact(self, version: str) -> bytes:
        path = self._folder(version) / ARTIFACT_FILE
        try:
            return path.read_bytes()
        except FileNotFoundError:
            msg = f"model {version}: {ARTIFACT_FILE} is missing"
            raise ArtifactRefusedError(msg) from None
        except OSError as error:
            msg = f"model {version}: cannot read {path}: {error.strerror}"
            raise ArtifactRefusedError(msg) from None

    def write(self, metadata: ModelMetadata, artifact: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_abandoned_saves()
        incoming = Path(tempfile.mkdtemp(prefix=_incoming_prefix(os.getpid()), dir=self.root))
        try:
            _write_durably(incoming / ARTIFACT_FILE, artifact)
            _write_durably(incoming / METADATA_FILE, metadata.model_dump_json(indent=2).encode())
            incoming.chmod(0o755)  # mkdtemp makes it private; other users may serve from here
            incoming.rename(self.root / metadata.version)
        except BaseException as error:
            shutil.rmtree(incoming, ignore_errors=True)
            if isinstance(error, OSError):
                msg = f"model not stored: cannot write to {self.root}: {error.strerror}"
                raise ModelRegistryError(msg) from None
            raise

    def _remove_abandoned_saves(self) -> None:
        """Saves whose process died (killed, or its machine restarted) left a folder: delete it."""
        for folder in self.root.glob(f"{_INCOMING_PREFIX}{socket.gethostname()}-*"):
            if abandoned(folder.name.removeprefix(_INCOMING_PREFIX).split("-")[-2]):
                shutil.rmtree(folder, ignore_errors=True)

    def history(self) -> list[AliasMove]:
        path = self.root / HISTORY_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as error:
            raise ModelRegistryError(f"cannot read {path}: {error.strerror}") from None
        moves = []
        for number, line in enumerate(data.splitlines(), start=1):
            try:
                moves.append(AliasMove.model_validate_json(line))
            except ValidationError:
                msg = (
                    f"{path}, line {number}: not an alias move (damaged); the lines before it"
                    " are intact: fix or delete this line to recover"
                )
                raise ModelRegistryError(msg) from None
        return moves

    def record_move(self, move: AliasMove) -> None:
        path = self.root / HISTORY_FILE
        try:
            append_whole(path, (move.model_dump_json() + "\n").encode(), sync=True)
        except OSError as error:
            msg = f"'{move.alias}' not moved: cannot write {path}: {error.strerror}"
            raise ModelRegistryError(msg) from None

    @contextmanager
    def moving(self) -> Iterator[None]:
        """One alias move at a time, also across processes (an exclusive lock on a file)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / _LOCK_FILE).open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _folder(self, version: str) -> Path:
        folder = self.root / version
        if version.startswith(".") or "/" in version or not folder.is_dir():
            known = ", ".join(self.versions()) or "none"
            msg = f"no model version '{version}' in {self.location} (known: {known})"
            raise ModelNotFoundError(msg)
        return folder


def _incoming_prefix(pid: int) -> str:
    return f"{_INCOMING_PREFIX}{socket.gethostname()}-{pid}-"


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
