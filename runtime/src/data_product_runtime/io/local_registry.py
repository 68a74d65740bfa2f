"""The embedded registry backend: a folder on a local or mounted file system.

Layout under the root::

    <version>/model.skops      the fitted pipeline (skops: loading runs no pickled code)
    <version>/metadata.json    ModelMetadata, including the artifact's sha256
    alias-history.jsonl        one AliasMove per line, oldest first; the aliases follow from it
    .incoming-*/               a save in progress; invisible until renamed into place
"""

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from data_product_runtime.core.aliases import AliasMove
from data_product_runtime.core.model import ModelMetadata
from data_product_runtime.io.registry import (
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
            # Listed even without its metadata: loading it then says what is missing.
            if entry.is_dir() and not entry.name.startswith(".")
        )

    def read_metadata(self, version: str) -> ModelMetadata:
        path = self._folder(version) / METADATA_FILE
        try:
            return ModelMetadata.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            msg = f"model {version}: {METADATA_FILE} is missing, so the artifact cannot be verified"
            raise ArtifactRefusedError(msg) from None
        except ValidationError as error:
            msg = f"model {version}: invalid {METADATA_FILE}: {error}"
            raise ArtifactRefusedError(msg) from None

    def read_artifact(self, version: str) -> bytes:
        try:
            return (self._folder(version) / ARTIFACT_FILE).read_bytes()
        except FileNotFoundError:
            msg = f"model {version}: {ARTIFACT_FILE} is missing"
            raise ArtifactRefusedError(msg) from None

    def write(self, metadata: ModelMetadata, artifact: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        incoming = Path(tempfile.mkdtemp(prefix=_INCOMING_PREFIX, dir=self.root))
        try:
            _write_durably(incoming / ARTIFACT_FILE, artifact)
            _write_durably(incoming / METADATA_FILE, metadata.model_dump_json(indent=2).encode())
            incoming.chmod(0o755)  # mkdtemp makes it private; other users may serve from here
            incoming.rename(self.root / metadata.version)
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise

    def history(self) -> list[AliasMove]:
        path = self.root / HISTORY_FILE
        if not path.is_file():
            return []
        moves = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            try:
                moves.append(AliasMove.model_validate_json(line))
            except ValidationError as error:
                msg = f"{path}, line {number}: not an alias move: {error}"
                raise ModelRegistryError(msg) from None
        return moves

    def record_move(self, move: AliasMove) -> None:
        line = (move.model_dump_json() + "\n").encode()
        with self._locked():
            # One write in append mode: a reader sees the whole line or none of it.
            descriptor = os.open(
                self.root / HISTORY_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
            )
            try:
                os.write(descriptor, line)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One alias move at a time, also across processes."""
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


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
