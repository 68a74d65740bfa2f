"""The model registry: versions with metadata, aliases with a history, verified loading.

``ModelRegistry`` holds everything that does not depend on where models are stored: version
ids, provenance, alias rules and, above all, the checks before a model is loaded (the
metadata's own digest, the artifact's sha256, then only trusted types), which every consumer
goes through. Backends store bytes and records.
"""

import contextlib
import getpass
import hashlib
import platform
import re
import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from typing import Any

from data_product_runtime.core.aliases import (
    CANDIDATE,
    PRODUCTION,
    AliasError,
    AliasMove,
    check_alias_name,
    held_versions,
    rollback_target,
)
from data_product_runtime.core.model import Model, ModelMetadata, TrainingReport
from data_product_runtime.core.portable import PortablePipeline

# Types skops does not trust by default but which are scikit-learn's, numpy's or the runtime's
# own; a project lists any others in its ``trusted_types`` setting, anything else is refused.
TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.tree._tree.Tree",
    "data_product_runtime.core.transformers.DateParts",
    "data_product_runtime.core.transformers.EncodedLabels",
)
_RECORDED_LIBRARIES = ("numpy", "scikit-learn", "scipy", "skops")
_VERSION_FORMAT = "%Y%m%d-%H%M%S-%f"
# What a version id looks like; anything else in a registry is not a version and is ignored.
VERSION_PATTERN = re.compile(r"^\d{8}-\d{6}-\d{6}$")
_UNSEALED = "0" * 64


class ModelRegistryError(Exception):
    """Base class of the registry's errors; the message is meant for the user."""


class ModelNotFoundError(ModelRegistryError, LookupError):
    """No such model version or alias, or no model at all."""


class ArtifactRefusedError(ModelRegistryError):
    """A stored model failed an integrity or safety check and was not loaded."""


class AliasMoveError(ModelRegistryError):
    """An alias cannot be moved as asked."""


class ModelRegistry(ABC):
    """Versions of trained models, the aliases that point at them, and verified loading."""

    # The project's trusted_types setting: what its artifacts may hold beyond TRUSTED_TYPES.
    project_trusted_types: tuple[str, ...] = ()

    @property
    def trusted_types(self) -> list[str]:
        return [*TRUSTED_TYPES, *self.project_trusted_types]

    # -- what a backend provides ------------------------------------------------------------

    @abstractmethod
    def versions(self) -> list[str]:
        """Stored versions, oldest first (version ids sort by creation time)."""

    @abstractmethod
    def read_metadata(self, version: str) -> ModelMetadata:
        """The stored metadata; ArtifactRefusedError when missing or invalid."""

    @abstractmethod
    def read_artifact(self, version: str) -> bytes:
        """The stored artifact bytes, unverified; ArtifactRefusedError when missing."""

    @abstractmethod
    def write(self, metadata: ModelMetadata, artifact: bytes) -> None:
        """Store a new version so that readers see all of it or nothing."""

    @abstractmethod
    def history(self) -> list[AliasMove]:
        """Every alias move, oldest first."""

    @abstractmethod
    def record_move(self, move: AliasMove) -> None:
        """Append a move to the history, all of it or nothing, under ``moving()``."""

    @contextlib.contextmanager
    def moving(self) -> Iterator[None]:
        """Held while a move is decided and recorded, so that concurrent moves serialise."""
        yield

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the registry lives, for messages."""

    # -- shared behaviour -------------------------------------------------------------------

    def aliases(self) -> dict[str, str]:
        """Current alias -> version, derived from the history (its one source of truth)."""
        return {move.alias: move.version for move in self.history()}

    def latest(self) -> str:
        versions = self.versions()
        if not versions:
            msg = f"no trained model in {self.location}: train one first with the `train` command"
            raise ModelNotFoundError(msg)
        return versions[-1]

    def resolve(self, reference: str | None = None) -> str:
        """A version id from a version, an alias, or nothing (production, else the newest)."""
        aliases = self.aliases()
        if reference is None:
            return aliases.get(PRODUCTION) or self.latest()
        if reference in aliases:
            return aliases[reference]
        if reference in self.versions():
            return reference
        known = ", ".join([*sorted(aliases), *self.versions()]) or "none"
        msg = f"no model version or alias '{reference}' in {self.location} (known: {known})"
        raise ModelNotFoundError(msg)

    def metadata(self, reference: str | None = None) -> ModelMetadata:
        return self.verified_metadata(self.resolve(reference))

    def verified_metadata(self, version_id: str) -> ModelMetadata:
        """The metadata, refused unless it holds the digest of its own content."""
        metadata = self.read_metadata(version_id)
        if metadata.sha256 != metadata.digest():
            msg = (
                f"model {version_id}: its metadata does not match the digest recorded in it"
                " (edited or damaged after training); refusing to load it"
            )
            raise ArtifactRefusedError(msg)
        return metadata

    def load(self, reference: str | None = None, *, portable: bool = False) -> Model:
        """Load a model after checking its metadata's digest, its artifact's sha256 and types.

        With ``portable``, a model whose metadata holds its portable form (numbers verified
        at training) is built from those numbers: scikit-learn is neither imported nor
        deserialised, which batch scoring prefers. The same checks come first either way.
        """
        version_id = self.resolve(reference)
        metadata = self.verified_metadata(version_id)
        artifact = self.read_artifact(version_id)
        digest = hashlib.sha256(artifact).hexdigest()
        if digest != metadata.artifact_sha256:
            msg = (
                f"model {version_id}: the artifact has sha256 {digest}, "
                f"but the registry recorded {metadata.artifact_sha256}; refusing to load it"
            )
            raise ArtifactRefusedError(msg)
        if portable and metadata.portable is not None:
            return Model(pipeline=PortablePipeline(metadata.portable), metadata=metadata)
        import skops.io as sio  # noqa: PLC0415  (imports scikit-learn: only when needed)

        try:
            untrusted = set(sio.get_untrusted_types(data=artifact)) - set(self.trusted_types)
        except Exception as error:  # skops raises many kinds on a malformed archive
            msg = f"model {version_id}: the artifact is not a readable skops file ({error})"
            raise ArtifactRefusedError(msg) from error
        if untrusted:
            msg = f"model {version_id}: the artifact contains untrusted types: {', '.join(sorted(untrusted))}"
            raise ArtifactRefusedError(msg)
        return Model(pipeline=sio.loads(artifact, trusted=self.trusted_types), metadata=metadata)

    def save(self, pipeline: Any, report: TrainingReport, package_version: str) -> ModelMetadata:
        """Store a fitted pipeline as a new version and point the candidate alias at it."""
        import skops.io as sio  # noqa: PLC0415  (imports scikit-learn: only when needed)

        artifact = sio.dumps(pipeline)
        # Types beyond skops's own list: the project's libraries (LightGBM, XGBoost, ...).
        beyond_skops = set(sio.get_untrusted_types(data=artifact))
        untrusted = sorted(beyond_skops - set(self.trusted_types))
        if untrusted:  # refused now, not when serving finds it out
            listed = ", ".join(f'"{name}"' for name in [*self.project_trusted_types, *untrusted])
            msg = (
                f"model not stored: loading it would refuse its types {', '.join(untrusted)}; if"
                f" you trust them, set this in the project's settings.py:"
                f" trusted_types: tuple[str, ...] = ({listed},)"
            )
            raise ArtifactRefusedError(msg)
        created_at = datetime.now(UTC)
        metadata = ModelMetadata(
            # Only the report's own fields, so a stored model's metadata can be a report too.
            **report.model_dump(include=set(TrainingReport.model_fields)),
            version=created_at.strftime(_VERSION_FORMAT),
            created_at=created_at,
            package_version=package_version,
            git_commit=_git_commit(),
            library_versions={
                "python": platform.python_version(),
                **{name: _installed_version(name) for name in _RECORDED_LIBRARIES},
                **_distributions_of(beyond_skops),
            },
            artifact_sha256=hashlib.sha256(artifact).hexdigest(),
            sha256=_UNSEALED,
        ).sealed()
        self.write(metadata, artifact)
        self.promote(metadata.version, CANDIDATE)
        return metadata

    def promote(self, reference: str, alias: str, actor: str | None = None) -> AliasMove:
        """Point an alias at a version (given by id or by another alias)."""
        try:
            check_alias_name(alias)
        except AliasError as error:
            raise AliasMoveError(str(error)) from None
        with self.moving():  # the history read here is the one the move is appended to
            target = self.resolve(reference)
            self.verified_metadata(target)  # a damaged version is never promoted
            current = self.aliases().get(alias)
            if current == target:
                msg = f"'{alias}' already points to {target}"
                raise AliasMoveError(msg)
            move = AliasMove(
                alias=alias,
                previous=current,
                version=target,
                actor=actor or _current_user(),
                at=datetime.now(UTC),
                kind="promote",
            )
            self.record_move(move)
        return move

    def rollback(self, alias: str = PRODUCTION, actor: str | None = None) -> AliasMove:
        """Move an alias back to the version it held before its current one."""
        with self.moving():
            history = self.history()
            try:
                target = rollback_target(history, alias)
            except AliasError as error:
                raise AliasMoveError(str(error)) from None
            move = AliasMove(
                alias=alias,
                previous=held_versions(history, alias)[-1],
                version=target,
                actor=actor or _current_user(),
                at=datetime.now(UTC),
                kind="rollback",
            )
            self.record_move(move)
        return move


def _installed_version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def _distributions_of(types: set[str]) -> dict[str, str]:
    """Installed distribution -> version for the modules these types come from (the standard
    library has none): an XGBoost booster, say, must load with the XGBoost it was saved by."""
    providers = packages_distributions()
    names = {name for type_ in types for name in providers.get(type_.split(".")[0], ())}
    return {name: _installed_version(name) for name in sorted(names)}


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid, as in some containers
        return "unknown"


def _git_commit() -> str | None:
    """The project's commit when training runs inside a git checkout, else None."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        result = subprocess.run(  # noqa: S603  (fixed arguments, no shell)
            [git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None
