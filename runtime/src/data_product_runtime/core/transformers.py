"""Pipeline steps the runtime provides for its encoding of features (see ``core.dataset``)."""

from typing import Any, Self

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone

from data_product_runtime.core.portable import PARTS, date_parts


class DateParts(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Derives date parts inside the pipeline, so serving computes them as training did."""

    def fit(self, features: Any, target: Any = None) -> Self:  # noqa: ARG002
        self.n_features_in_ = np.shape(features)[1]
        return self

    def transform(self, features: Any) -> NDArray[np.float64]:
        return date_parts(features)

    def get_feature_names_out(self, input_features: Any = None) -> NDArray[np.object_]:
        names = (
            input_features
            if input_features is not None
            else [f"x{index}" for index in range(self.n_features_in_)]
        )
        return np.asarray([f"{name}_{part}" for name in names for part in PARTS], dtype=object)


class EncodedLabels(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A classifier fitted on the labels' positions 0..k-1 (XGBoost takes no other labels),
    which answers with the labels themselves."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, features: Any, target: Any, **fit_params: Any) -> Self:
        self.classes_, positions = np.unique(np.asarray(target), return_inverse=True)
        self.estimator_ = clone(self.estimator).fit(features, positions, **fit_params)
        return self

    def predict_proba(self, features: Any) -> NDArray[np.float64]:
        return np.asarray(self.estimator_.predict_proba(features), dtype=np.float64)

    def predict(self, features: Any) -> NDArray[Any]:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(features), axis=1)])
