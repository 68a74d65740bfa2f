"""The MLflow registry backend, for teams that already run an MLflow tracking server.

Each version is an MLflow model version of one registered model. Its run holds the same
two files as the local registry (``model/model.skops`` and ``model/metadata.json``), so the
same checks apply before loading. Alias moves are kept as registered-model tags
(``alias-move.<time>``), the history MLflow lacks, and mirrored to MLflow's own aliases so the
MLflow UI shows them too.
"""

import tempfile
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from pydantic import ValidationError

from data_product_runtime.core.aliases import AliasMove
from data_product_runtime.core.model import ModelMetadata
from data_product_runtime.io.registry import (
    ArtifactRefusedError,
    ModelNotFoundError,
    ModelRegistry,
    ModelRegistryError,
)

ARTIFACT_PATH = "model"
ARTIFACT_FILE = "model.skops"
METADATA_FILE = "metadata.json"
VERSION_TAG = "version_id"
_MOVE_TAG_PREFIX = "alias-move."


class MlflowModelRegistry(ModelRegistry):
    """Versions as MLflow model versions; our version ids are kept in a tag."""

    def __init__(self, tracking_uri: str, model_name: str) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    @property
    def location(self) -> str:
        return f"MLflow model '{self.model_name}' at {self.tracking_uri}"

    def versions(self) -> list[str]:
        return sorted(self._model_versions())

    def read_metadata(self, version: str) -> ModelMetadata:
        try:
            raw = self._download(version, METADATA_FILE)
        except (MlflowException, OSError):
            msg = f"model {version}: {METADATA_FILE} is missing, so the artifact cannot be verified"
            raise ArtifactRefusedError(msg) from None
        try:
            return ModelMetadata.model_validate_json(raw)
        except ValidationError as error:
            msg = f"model {version}: invalid {METADATA_FILE}: {error}"
            raise ArtifactRefusedError(msg) from None

    def read_artifact(self, version: str) -> bytes:
        try:
            return self._download(version, ARTIFACT_FILE)
        except (MlflowException, OSError):
            msg = f"model {version}: {ARTIFACT_FILE} is missing"
            raise ArtifactRefusedError(msg) from None

    def write(self, metadata: ModelMetadata, artifact: bytes) -> None:
        client = self.client
        try:
            experiment = client.get_experiment_by_name(self.model_name)
            experiment_id = (
                experiment.experiment_id
                if experiment
                else client.create_experiment(self.model_name)
            )
            run_id = client.create_run(experiment_id, run_name=metadata.version).info.run_id
            for name, value in metadata.metrics.items():
                client.log_metric(run_id, name, value)
            for name, value in metadata.hyperparameters.items():
                client.log_param(run_id, name, value)
            with tempfile.TemporaryDirectory() as folder:
                (Path(folder) / ARTIFACT_FILE).write_bytes(artifact)
                (Path(folder) / METADATA_FILE).write_text(metadata.model_dump_json(indent=2))
                client.log_artifacts(run_id, folder, artifact_path=ARTIFACT_PATH)
            client.set_terminated(run_id)
            if not client.search_registered_models(f"name = '{self.model_name}'"):
                client.create_registered_model(self.model_name)
            # The version becomes visible only now, after its files are complete.
            client.create_model_version(
                self.model_name,
                source=f"runs:/{run_id}/{ARTIFACT_PATH}",
                run_id=run_id,
                tags={VERSION_TAG: metadata.version, "artifact_sha256": metadata.artifact_sha256},
            )
        except MlflowException as error:
            msg = f"cannot store model {metadata.version} in {self.location}: {error.message}"
            raise ModelRegistryError(msg) from None

    def history(self) -> list[AliasMove]:
        try:
            tags = self.client.get_registered_model(self.model_name).tags
        except MlflowException:
            return []  # no model registered yet
        return [
            AliasMove.model_validate_json(tags[key])
            for key in sorted(tags)
            if key.startswith(_MOVE_TAG_PREFIX)
        ]

    def record_move(self, move: AliasMove) -> None:
        # Keys sort by time, so the history reads back in order.
        key = f"{_MOVE_TAG_PREFIX}{move.at:%Y%m%dT%H%M%S%f}"
        self.client.set_registered_model_tag(self.model_name, key, move.model_dump_json())
        mlflow_version = self._model_versions()[move.version].version
        self.client.set_registered_model_alias(self.model_name, move.alias, mlflow_version)

    def _model_versions(self) -> dict[str, ModelVersion]:
        try:
            found = self.client.search_model_versions(f"name = '{self.model_name}'")
        except MlflowException as error:
            msg = f"cannot list {self.location}: {error.message}"
            raise ModelRegistryError(msg) from None
        return {v.tags[VERSION_TAG]: v for v in found if VERSION_TAG in v.tags}

    def _download(self, version: str, file_name: str) -> bytes:
        model_versions = self._model_versions()
        if version not in model_versions:
            known = ", ".join(sorted(model_versions)) or "none"
            msg = f"no model version '{version}' in {self.location} (known: {known})"
            raise ModelNotFoundError(msg)
        run_id = model_versions[version].run_id
        if run_id is None:
            msg = f"model {version}: MLflow records no run holding its files"
            raise ArtifactRefusedError(msg)
        with tempfile.TemporaryDirectory() as folder:
            path = self.client.download_artifacts(run_id, f"{ARTIFACT_PATH}/{file_name}", folder)
            return Path(path).read_bytes()
