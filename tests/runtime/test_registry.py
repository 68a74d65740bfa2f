"""The model registry: round trips, provenance, and refusal of anything that fails a check."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from typer.testing import CliRunner

from data_product_runtime import Project
from data_product_runtime.cli import build_cli
from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.model import Model, ModelMetadata
from data_product_runtime.io import local_registry as registry_module
from data_product_runtime.io.local_registry import ARTIFACT_FILE, METADATA_FILE, LocalModelRegistry
from data_product_runtime.io.registry import ArtifactRefusedError, ModelNotFoundError
from data_product_runtime.jobs.training import train


@pytest.fixture
def registry(project: Project, tmp_path: Path) -> LocalModelRegistry:
    """A private registry with two versions, which a test may damage freely."""
    root = tmp_path / "models"
    train(project, project.settings(model_dir=root))
    train(project, project.settings(model_dir=root))
    return LocalModelRegistry(root)


def test_round_trip_predicts_identically(
    model: Model, bundled: Dataset, registry_dir: Path, problem_type: str
) -> None:
    reloaded = LocalModelRegistry(registry_dir).load(model.version)
    if problem_type == "classification":
        np.testing.assert_array_equal(
            reloaded.pipeline.predict_proba(bundled.features),
            model.pipeline.predict_proba(bundled.features),
        )
    else:
        np.testing.assert_array_equal(
            reloaded.pipeline.predict(bundled.features), model.pipeline.predict(bundled.features)
        )


def test_metadata_records_provenance(
    trained: ModelMetadata, registry_dir: Path, bundled: Dataset, project: Project
) -> None:
    artifact = (registry_dir / trained.version / ARTIFACT_FILE).read_bytes()
    assert trained.artifact_sha256 == hashlib.sha256(artifact).hexdigest()
    assert trained.feature_names == bundled.feature_names
    assert trained.training_data.rows + trained.test_data.rows == len(bundled)
    assert len(trained.training_data.sha256) == 64
    assert {"python", "numpy", "scikit-learn", "skops"} <= trained.library_versions.keys()
    assert trained.package_version != "unknown"
    assert trained.package_version == project.version
    assert trained.problem_type == project.problem_type
    assert trained.created_at.tzinfo is not None
    assert LocalModelRegistry(registry_dir).metadata(trained.version) == trained


def test_versions_are_ordered_and_the_newest_is_served_by_default(
    registry: LocalModelRegistry,
) -> None:
    older, newer = registry.versions()
    assert older < newer
    assert registry.latest() == newer
    assert registry.load().version == newer


def _damage_and_check_refused(registry: LocalModelRegistry, damage: str, message: str) -> None:
    victim, bystander = registry.versions()
    registry.promote(victim, "production")  # an alias still names it once it is damaged
    folder = registry.root / victim
    artifact = folder / ARTIFACT_FILE
    if damage == "tampered":
        data = bytearray(artifact.read_bytes())
        data[len(data) // 2] ^= 0xFF
        artifact.write_bytes(bytes(data))
    elif damage == "swapped":
        shutil.copyfile(registry.root / bystander / ARTIFACT_FILE, artifact)
    elif damage == "truncated":
        artifact.write_bytes(artifact.read_bytes()[:100])
    elif damage == "missing artifact":
        artifact.unlink()
    elif damage == "missing metadata":
        (folder / METADATA_FILE).unlink()
    elif damage == "rehashed garbage":
        # Bytes and every hash replaced: the archive itself must still be checked.
        artifact.write_bytes(b"not a zip archive")
        metadata = registry.read_metadata(victim).model_copy(
            update={"artifact_sha256": hashlib.sha256(b"not a zip archive").hexdigest()}
        )
        (folder / METADATA_FILE).write_text(metadata.sealed().model_dump_json())
    elif damage == "invalid metadata":
        (folder / METADATA_FILE).write_text('{"version": 1}')
    elif damage == "zeroed artifact sha256":
        _edit_metadata(folder, lambda metadata: metadata.update(artifact_sha256="0" * 64))
    elif damage == "portable numbers edited":
        _edit_metadata(folder, lambda metadata: _set_first_number(metadata["portable"], -1000.0))
    elif damage == "category edited":
        _edit_metadata(folder, lambda metadata: metadata["features"][0].update(optional=True))
    # Batch scoring loads the portable form, the service the artifact: both are refused (but
    # the portable form never reads the skops archive, so its format is the service's concern).
    for portable in (False,) if damage == "rehashed garbage" else (False, True):
        with pytest.raises(ArtifactRefusedError, match=message):
            registry.load("production", portable=portable)
    assert registry.load(bystander).version == bystander
    # An incomplete version is no longer listed: `latest` and `models` skip it.
    assert (victim in registry.versions()) == (not damage.startswith("missing"))


def _edit_metadata(folder: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    metadata = json.loads((folder / METADATA_FILE).read_text())
    edit(metadata)
    (folder / METADATA_FILE).write_text(json.dumps(metadata))


def _set_first_number(node: object, value: float) -> bool:
    """Replace the first float found in a JSON tree (a weight or an intercept)."""
    items: Iterable[tuple[Any, object]]
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return False
    for key, child in items:
        if isinstance(child, float):
            node[key] = value
            return True
        if _set_first_number(child, value):
            return True
    return False


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("tampered", "has sha256 .* but the registry recorded"),
        ("swapped", "has sha256 .* but the registry recorded"),
        ("truncated", "has sha256 .* but the registry recorded"),
        ("rehashed garbage", "not a readable skops file"),
        ("missing artifact", "model.skops is missing"),
        ("missing metadata", "metadata.json is missing"),
        ("invalid metadata", "invalid .*metadata.json"),
        ("zeroed artifact sha256", "metadata does not match the digest recorded in it"),
        ("portable numbers edited", "metadata does not match the digest recorded in it"),
        ("category edited", "metadata does not match the digest recorded in it"),
    ],
)
def test_damaged_models_are_refused_and_the_rest_still_load(
    registry: LocalModelRegistry, damage: str, message: str
) -> None:
    _damage_and_check_refused(registry, damage, message)


def test_untrusted_types_are_refused_at_training_with_the_line_that_trusts_them(
    registry: LocalModelRegistry, trained: ModelMetadata, project: Project
) -> None:
    hostile = Pipeline([("step", FunctionTransformer(func=os.getcwd))])
    before = registry.versions()
    with pytest.raises(
        ArtifactRefusedError, match=r'trusted_types: tuple\[str, \.\.\.\] = \("\w+\.getcwd",\)$'
    ):
        registry.save(hostile, trained, project.version)
    assert registry.versions() == before


def test_loading_trusts_exactly_the_listed_types(
    registry: LocalModelRegistry, trained: ModelMetadata, project: Project
) -> None:
    hostile = Pipeline([("step", FunctionTransformer(func=os.getcwd))])
    name = f"{os.getcwd.__module__}.getcwd"
    registry.project_trusted_types = (name,)
    stored = registry.save(hostile, trained, project.version)
    assert registry.load(stored.version).pipeline.steps[0][1].func is os.getcwd
    with pytest.raises(ArtifactRefusedError, match=r"untrusted types: .*getcwd"):
        LocalModelRegistry(registry.root).load(stored.version)


@pytest.mark.parametrize("version", ["nope", "../models", ".incoming-x"])
def test_unknown_versions_are_named_with_the_known_ones(
    registry: LocalModelRegistry, version: str
) -> None:
    with pytest.raises(
        ModelNotFoundError,
        match=rf"no model version or alias .{re.escape(version)}.*known: candidate",
    ):
        registry.load(version)


def test_an_empty_registry_says_to_train_first(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"no trained model .* train"):
        LocalModelRegistry(tmp_path / "nothing-here").load()


def test_a_crash_mid_save_leaves_no_version_behind(
    registry: LocalModelRegistry, model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = registry.versions()
    writes: list[Path] = []

    def crash_on_metadata(path: Path, data: bytes) -> None:
        writes.append(path)
        if path.name == METADATA_FILE:
            raise KeyboardInterrupt
        path.write_bytes(data)

    monkeypatch.setattr(registry_module, "_write_durably", crash_on_metadata)
    with pytest.raises(KeyboardInterrupt):
        registry.save(model.pipeline, model.metadata, model.metadata.package_version)
    assert [path.name for path in writes] == [ARTIFACT_FILE, METADATA_FILE]
    assert registry.versions() == before
    assert not [entry for entry in registry.root.iterdir() if entry.name.startswith(".incoming")]


def test_a_full_disk_while_saving_is_one_line_and_stores_nothing(
    registry: LocalModelRegistry, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = sorted(path.name for path in registry.root.iterdir())

    def full(path: Path, data: bytes) -> None:
        path.write_bytes(data[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(registry_module, "_write_durably", full)
    result = CliRunner().invoke(build_cli(project), ["train", "--model-dir", str(registry.root)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"error: model not stored: cannot write to {registry.root}: No space left on device"
    )
    assert "Traceback" not in result.output
    assert sorted(path.name for path in registry.root.iterdir()) == before
