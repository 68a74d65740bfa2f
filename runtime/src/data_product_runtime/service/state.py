"""What the service serves: the routing, the loaded models, and reloading both safely.

A ``ServingState`` is immutable once built. Reloading builds a new one beside it (loading
only versions not already in memory) and swaps a single reference, so requests in flight
finish on the state they started with and none of them fails during a reload.
"""

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import structlog
from numpy.typing import NDArray
from pydantic import ValidationError

from data_product_runtime.core.drift import DriftWindow
from data_product_runtime.core.model import Model
from data_product_runtime.core.routing import RoutingConfig
from data_product_runtime.io.registry import ModelRegistry

logger = structlog.get_logger(__name__)


class RoutingError(ValueError):
    """The routing configuration cannot be used; the message says why."""


@dataclass
class ServedModel:
    """A loaded model with its fast predictor and its drift windows (inputs and scores)."""

    model: Model
    input_drift: DriftWindow | None
    score_drift: DriftWindow | None

    @property
    def version(self) -> str:
        return self.model.version

    def outputs(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """Class probabilities or values for rows, in the model's feature order."""
        # Extreme inputs may overflow; the caller refuses non-finite outputs with a 422.
        with np.errstate(all="ignore"):
            return self.model.outputs(rows)


@dataclass(frozen=True)
class ServingState:
    routing: RoutingConfig
    variants: dict[str, ServedModel]
    shadows: tuple[ServedModel, ...]
    models: dict[str, ServedModel] = field(default_factory=dict)


def read_routing(
    routing_file: Path | None, routing_json: str | None, default_model: str | None
) -> RoutingConfig:
    """Routing from the file, else from the JSON setting, else all traffic to the default model."""
    try:
        if routing_file is not None:
            return RoutingConfig.model_validate_json(routing_file.read_bytes())
        if routing_json:
            return RoutingConfig.model_validate_json(routing_json)
    except (OSError, ValidationError) as error:
        raise RoutingError(f"invalid routing configuration: {error}") from None
    return RoutingConfig.single(default_model)


def build_state(
    registry: ModelRegistry,
    routing: RoutingConfig,
    drift_window: int,
    previous: ServingState | None = None,
) -> ServingState:
    """Resolve every variant and shadow to a version and load what is not loaded yet."""
    loaded = dict(previous.models) if previous else {}

    def serve(reference: str | None) -> ServedModel:
        version = registry.resolve(reference)
        if version not in loaded:
            model = registry.load(version)
            model.predictor  # noqa: B018  (built now: a model that cannot predict is refused at load)
            inputs, outputs = model.metadata.input_reference, model.metadata.score_reference
            loaded[version] = ServedModel(
                model=model,
                input_drift=DriftWindow(inputs, drift_window) if inputs else None,
                score_drift=DriftWindow(outputs, drift_window) if outputs else None,
            )
        return loaded[version]

    variants = {variant.name: serve(variant.model) for variant in routing.variants}
    # A shadow that is also a variant scores only the requests that other variants answer.
    shadows = tuple(serve(reference) for reference in routing.shadow)
    features = {served.model.metadata.features for served in [*variants.values(), *shadows]}
    if len(features) > 1:
        raise RoutingError("all served models must take the same features (one request schema)")
    in_use = {served.version for served in [*variants.values(), *shadows]}
    return ServingState(
        routing, variants, shadows, {v: m for v, m in loaded.items() if v in in_use}
    )


class StateHolder:
    """The current state, and a lock so that only one reload runs at a time."""

    def __init__(self, state: ServingState) -> None:
        self.current = state
        self._lock = asyncio.Lock()

    async def reload(self, build: "StateBuilder") -> ServingState:
        async with self._lock:
            # Loading verifies hashes and compiles pipelines: keep it off the event loop.
            state = await asyncio.to_thread(build, self.current)
            self.current = state
            logger.info("served models", variants={n: m.version for n, m in state.variants.items()})
            return state


class StateBuilder:
    """Builds a state from the registry and the routing settings (re-read on every call)."""

    def __init__(
        self,
        registry: ModelRegistry,
        routing_file: Path | None,
        routing_json: str | None,
        default_model: str | None,
        drift_window: int,
    ) -> None:
        self.registry = registry
        self.routing_file = routing_file
        self.routing_json = routing_json
        self.default_model = default_model
        self.drift_window = drift_window

    def __call__(self, previous: ServingState | None = None) -> ServingState:
        routing = read_routing(self.routing_file, self.routing_json, self.default_model)
        return build_state(self.registry, routing, self.drift_window, previous)
