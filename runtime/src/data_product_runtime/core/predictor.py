"""The one way a model predicts: the fastest exact implementation of its pipeline.

The registry's models, and through them the service, batch scoring, evaluation and the tests,
compute their outputs with a :class:`Predictor`. It runs each step as numpy arithmetic where
the runtime knows the step (``core.compiled``; equal to scikit-learn's results, checked by the
tests and, for the portable form, exactly on held-out rows at training) and the step's own
scikit-learn code, without its per-call input checks, where it does not.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from data_product_runtime.core.portable import PortablePipeline

Matrix = NDArray[np.float64]
Implementation = Literal["arithmetic", "compiled", "partly compiled", "pipeline"]
"""Every step as numpy arithmetic; every step compiled, the trees by treelite; some steps;
none (the pipeline's own code)."""


@dataclass(frozen=True)
class Predictor:
    """Outputs for a matrix of rows: class probabilities (classifiers) or values."""

    outputs: Callable[[Matrix], Matrix]
    implementation: Implementation
    compiled_steps: tuple[str, ...]
    fallback_steps: tuple[str, ...]
    trees: bool = False
    """Tree ensembles predict through treelite (``core.trees``)."""


def build_predictor(pipeline: Any, *, classifier: bool, trees: bool = False) -> Predictor:
    """The predictor of a fitted pipeline (or of a portable form loaded without one); with
    ``trees``, tree ensembles predict through treelite (``core.trees``)."""
    if isinstance(pipeline, PortablePipeline):  # numbers only: no scikit-learn in the process
        method = pipeline.predict_proba if classifier else pipeline.predict
        return Predictor(_as_floats(method), "arithmetic", ("portable form",), ())
    from data_product_runtime.core.compiled import compile_pipeline  # noqa: PLC0415

    compiled = compile_pipeline(pipeline, trees=trees)
    if classifier:
        if compiled.predict_proba is None:
            msg = (
                "the pipeline gives no class probabilities (predict_proba): it is not a classifier"
            )
            raise TypeError(msg)
        outputs = compiled.predict_proba
    else:
        outputs = _as_floats(compiled.predict)
    implementation: Implementation = (
        "pipeline"
        if not compiled.compiled_steps
        else "partly compiled"
        if compiled.fallback_steps
        else "compiled"
        if compiled.trees
        else "arithmetic"
    )
    return Predictor(
        outputs, implementation, compiled.compiled_steps, compiled.fallback_steps, compiled.trees
    )


def _as_floats(method: Callable[[Matrix], Any]) -> Callable[[Matrix], Matrix]:
    return lambda rows: np.asarray(method(rows), dtype=np.float64)
