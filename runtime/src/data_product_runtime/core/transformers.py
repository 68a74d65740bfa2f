"""Pipeline steps the runtime provides for its encoding of features (see ``core.dataset``)."""

from typing import Any, Self

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone

PARTS = ("year", "month", "day", "weekday", "hour")


def date_parts(seconds: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each column of seconds since 1970 (UTC) as year, month, day, weekday (Monday 0) and
    hour, side by side; NaN stays NaN."""
    seconds = np.asarray(seconds, dtype=np.float64)
    missing = np.isnan(seconds)
    moments = np.floor(np.where(missing, 0.0, seconds)).astype(np.int64).astype("datetime64[s]")
    days = moments.astype("datetime64[D]")
    months = moments.astype("datetime64[M]")
    years = moments.astype("datetime64[Y]")
    parts = np.stack(
        [
            years.astype(np.int64) + 1970,
            (months - years.astype("datetime64[M]")).astype(np.int64) + 1,
            (days - months.astype("datetime64[D]")).astype(np.int64) + 1,
            (days.astype(np.int64) + 3) % 7,  # 1970-01-01 was a Thursday
            (moments - days.astype("datetime64[s]")).astype(np.int64) // 3600,
        ],
        axis=-1,
    ).astype(np.float64)
    parts[np.broadcast_to(missing[..., None], parts.shape)] = np.nan
    return parts.reshape(len(seconds), -1)


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
