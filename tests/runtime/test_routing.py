"""A/B routing and drift windows: pure logic."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from pydantic import ValidationError

from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.drift import DriftReference, DriftWindow
from data_product_runtime.core.routing import RoutingConfig, Variant


def _config(**weights: float) -> RoutingConfig:
    return RoutingConfig(
        variants=tuple(
            Variant(name=name, model=name, weight=weight) for name, weight in weights.items()
        )
    )


def test_the_same_key_always_gets_the_same_variant() -> None:
    config = _config(a=1, b=1)
    assert {config.assign("customer-42").name for _ in range(20)} == {
        config.assign("customer-42").name
    }


def test_traffic_follows_the_weights() -> None:
    config = _config(a=9, b=1)
    by_key = Counter(config.assign(f"key-{n}").name for n in range(20_000))
    assert by_key["b"] / 20_000 == pytest.approx(0.1, abs=0.01)
    rng = random.Random(0)  # noqa: S311  (a reproducible traffic split)
    at_random = Counter(config.assign(None, rng).name for _ in range(20_000))
    assert at_random["b"] / 20_000 == pytest.approx(0.1, abs=0.01)


def test_invalid_routing_is_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="variant names must be unique"):
        RoutingConfig.model_validate(
            {"variants": [{"name": "a", "weight": 1}, {"name": "a", "weight": 2}]}
        )
    with pytest.raises(ValidationError, match="greater than 0"):
        RoutingConfig.model_validate({"variants": [{"name": "a", "weight": 0}]})
    with pytest.raises(ValidationError, match="at least 1 item"):
        RoutingConfig.model_validate({"variants": []})
    with pytest.raises(KeyError, match="unknown variant 'c' \\(known: a, b\\)"):
        _config(a=1, b=1).variant("c")


def test_drift_is_small_on_training_like_data_and_large_on_shifted_data(bundled: Dataset) -> None:
    reference = DriftReference.from_training(bundled.features)
    window = DriftWindow(reference, size=300)
    window.add(bundled.features[:300])
    assert window.rows == 300
    assert np.max(window.psi()) < 0.25
    shifted = DriftWindow(reference, size=300)
    shifted.add(bundled.features[:300] + 3 * bundled.features.std(axis=0))
    assert np.min(shifted.psi()) > 1.0


def test_the_window_slides(bundled: Dataset) -> None:
    reference = DriftReference.from_training(bundled.features)
    window = DriftWindow(reference, size=50)
    assert window.rows == 0
    assert np.all(window.psi() == 0)
    for start in range(0, 500, 7):
        window.add(bundled.features[start : start + 7] + 3 * bundled.features.std(axis=0))
    window.add(bundled.features[:50])  # these 50 rows push every shifted row out
    assert window.rows == 50
    fresh = DriftWindow(reference, size=50)
    fresh.add(bundled.features[:50])
    np.testing.assert_allclose(window.psi(), fresh.psi())
