"""Fast prediction for tree ensembles: treelite's interpreter (GTIL) on the fitted trees.

scikit-learn's forests and boosted trees, LightGBM and XGBoost spend milliseconds per call
on one row (input checks, thread pools); GTIL walks the same trees in tens of microseconds.
Whether its outputs equal the estimator's is measured on held-out rows at training
(``jobs.training``), and the model uses this path only when they do.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]

# scikit-learn's own trees compare float32 inputs with their thresholds.
_FLOAT32_INPUTS = {
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
}
_SKLEARN = {
    *_FLOAT32_INPUTS,
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
}


def _treelite_model(estimator: Any) -> Any | None:
    """The estimator's trees as a treelite model, or None for any other estimator."""
    if type(estimator).__name__ == "EncodedLabels":  # core.transformers: the same trees inside
        estimator = estimator.estimator_
    kind = type(estimator).__name__
    module = type(estimator).__module__.split(".")[0]
    try:
        import treelite  # noqa: PLC0415  (imports only for tree models)

        if module == "sklearn" and kind in _SKLEARN:
            return treelite.sklearn.import_model(estimator)
        if module == "lightgbm" and kind in {"LGBMClassifier", "LGBMRegressor"}:
            return treelite.frontend.from_lightgbm(estimator.booster_)
        if module == "xgboost" and kind in {"XGBClassifier", "XGBRegressor"}:
            return treelite.frontend.from_xgboost(estimator.get_booster())
    except Exception:
        return None
    return None


def tree_outputs(estimator: Any, *, classifier: bool) -> Callable[[Matrix], Matrix] | None:
    """Class probabilities (in ``classes_`` order) or values of a fitted tree ensemble."""
    model = _treelite_model(estimator)
    if model is None:
        return None
    import treelite.gtil  # noqa: PLC0415

    float32 = type(getattr(estimator, "estimator_", estimator)).__name__ in _FLOAT32_INPUTS

    def outputs(rows: Matrix) -> Matrix:
        if float32:
            rows = rows.astype(np.float32).astype(np.float64)
        values = np.asarray(
            treelite.gtil.predict(model, np.ascontiguousarray(rows), nthread=1),
            dtype=np.float64,
        ).reshape(len(rows), -1)
        if not classifier:
            return values[:, 0]
        if values.shape[1] == 1:  # binary models give the probability of the second class
            return np.hstack([1.0 - values, values])
        return values

    return outputs
