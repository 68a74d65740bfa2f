"""A/B analysis: logged predictions joined with observed outcomes, per-variant measures with 95 % intervals, a verdict.

Classification: accuracy carries a Wilson interval; two variants differ when the Agresti-Caffo
interval of their accuracy difference (a two-proportion z-test) excludes zero.
Regression: MAE and RMSE carry t intervals; two variants differ when the Welch t-interval of
the difference of their mean absolute errors excludes zero.
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Annotated, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats
from sklearn.metrics import roc_auc_score

CONFIDENCE = 0.95
# The power at which "about N more outcomes per variant" would detect the difference.
POWER = 0.8
_Z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
_Z_POWER = NormalDist().inv_cdf(POWER)

Key = tuple[str, int]
"""Which prediction an outcome belongs to: (request id, row within the request)."""

Outcome = str | float
"""The observed class (compared as text with the predicted label), or the observed value."""

Role = Literal["variant", "shadow"]
Verdict = Literal["better", "worse", "no significant difference", "not enough outcomes"]


class ExperimentError(ValueError):
    """The predictions and outcomes cannot be analysed; the message says why."""


class LoggedPrediction(BaseModel):
    """One line of the service's prediction log: the fields the analysis reads."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    request_id: str
    row: int = Field(0, ge=0)
    variant: str
    role: Role
    model_version: str
    prediction: str | int | Annotated[float, Field(allow_inf_nan=False)]
    probabilities: dict[str, float] | None = None

    @property
    def key(self) -> Key:
        return (self.request_id, self.row)


@dataclass
class Arm:
    """A variant (or a shadow model): how much it predicted, and its predictions with outcomes."""

    name: str
    role: Role
    logged: int = 0
    versions: set[str] = field(default_factory=set)
    predictions: list[LoggedPrediction] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)


@dataclass
class Joined:
    """Predictions matched with their outcomes, per arm, and what could not be matched."""

    arms: dict[str, Arm]
    outcomes: int
    unmatched_predictions: int
    unmatched_outcomes: int
    ambiguous: int


@dataclass
class _Group:
    """Predictions that must be unique by key: all variants together, or one shadow model."""

    matched: dict[Key, LoggedPrediction] = field(default_factory=dict)
    repeated: set[Key] = field(default_factory=set)


def join(
    predictions: Iterable[LoggedPrediction], outcomes: Mapping[Key, Outcome], *, shadow: bool
) -> Joined:
    """Match predictions with outcomes by (request id, row); shadow lines only when asked.

    A key logged twice in the same group (a caller reusing a request id) is ambiguous and
    left out. Only outcomes are kept in memory, with the predictions that match them.
    """
    arms: dict[str, Arm] = {}
    groups: dict[str, _Group] = {}
    unmatched = 0
    for prediction in predictions:
        if prediction.role == "shadow" and not shadow:
            continue
        name = (
            prediction.variant
            if prediction.role == "variant"
            else f"shadow {prediction.model_version}"
        )
        arm = arms.setdefault(name, Arm(name, prediction.role))
        arm.logged += 1
        arm.versions.add(prediction.model_version)
        key = prediction.key
        if key not in outcomes:
            unmatched += prediction.role == "variant"
            continue
        group = groups.setdefault("" if prediction.role == "variant" else name, _Group())
        if key in group.matched:
            group.repeated.add(key)
        else:
            group.matched[key] = prediction
    if not any(arm.role == "variant" for arm in arms.values()):
        msg = "the prediction log has no predictions"
        raise ExperimentError(msg)
    for group_name, group in groups.items():
        for key, prediction in group.matched.items():
            if key not in group.repeated:
                arm = arms[group_name or prediction.variant]
                arm.predictions.append(prediction)
                arm.outcomes.append(outcomes[key])
    variants = groups.get("", _Group())
    if len(variants.matched) == len(variants.repeated):
        logged = sum(arm.logged for arm in arms.values() if arm.role == "variant")
        msg = (
            f"no logged prediction has an outcome: {logged:,} predictions, {len(outcomes):,} "
            "outcomes, none with the same request_id and row"
        )
        raise ExperimentError(msg)
    return Joined(
        arms=arms,
        outcomes=len(outcomes),
        unmatched_predictions=unmatched,
        unmatched_outcomes=len(outcomes) - len(variants.matched) + len(variants.repeated),
        ambiguous=sum(len(group.repeated) for group in groups.values()),
    )


class Estimate(BaseModel):
    """A measure with its 95 % interval."""

    model_config = ConfigDict(frozen=True)

    value: float
    low: float
    high: float


class ArmReport(BaseModel):
    """One variant's (or shadow model's) measures on the predictions that have an outcome."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: Role
    model_versions: tuple[str, ...]
    predictions: int
    outcomes: int
    # Classification
    accuracy: Estimate | None = None
    log_loss: float | None = None
    roc_auc: float | None = None
    # Regression
    mae: Estimate | None = None
    rmse: Estimate | None = None


class Comparison(BaseModel):
    """A variant against the baseline on the primary measure."""

    model_config = ConfigDict(frozen=True)

    variant: str
    baseline: str
    measure: str
    difference: Estimate | None
    p_value: float | None
    verdict: Verdict
    more_outcomes_per_variant: int | None = None
    detectable_difference: float | None = None
    message: str


class ExperimentReport(BaseModel):
    """Everything ``ab-report`` prints."""

    model_config = ConfigDict(frozen=True)

    arms: tuple[ArmReport, ...]
    baseline: str
    comparisons: tuple[Comparison, ...]
    verdict: tuple[str, ...]
    notes: tuple[str, ...]
    outcomes: int
    unmatched_predictions: int
    unmatched_outcomes: int
    ambiguous: int


def _needed_per_arm(variance_sum: float, difference: float) -> float:
    """Outcomes per arm for a two-sided test at CONFIDENCE to detect ``difference`` with POWER."""
    return (_Z + _Z_POWER) ** 2 * variance_sum / difference**2


def _detectable(variance_sum: float, per_arm: int) -> float:
    """The smallest difference detected with POWER at ``per_arm`` outcomes per arm."""
    return (_Z + _Z_POWER) * math.sqrt(variance_sum / per_arm)


_BINARY = 2
_MIN_OUTCOMES = 2


class Statistics(Protocol):
    """The measures and the test of one problem type."""

    primary_measure: str
    higher_is_better: bool

    def arm_report(self, arm: Arm) -> ArmReport: ...
    def compare(self, variant: Arm, baseline: Arm) -> Comparison: ...
    def digits(self, difference: Estimate) -> int: ...
    def format_difference(self, value: float, digits: int, *, signed: bool = True) -> str: ...
    def describe(self, difference: Estimate, digits: int) -> str: ...
    def notes(self, joined: Joined) -> list[str]: ...


def wilson_interval(successes: int, trials: int, z: float = _Z) -> Estimate:
    """A proportion with its Wilson score interval (sound near 0 and 1 and for small samples)."""
    if trials <= 0:
        msg = "a proportion needs at least one trial"
        raise ValueError(msg)
    share = successes / trials
    scale = 1 + z**2 / trials
    centre = (share + z**2 / (2 * trials)) / scale
    half = z / scale * math.sqrt(share * (1 - share) / trials + z**2 / (4 * trials**2))
    return Estimate(value=share, low=max(0.0, centre - half), high=min(1.0, centre + half))


def _correct(arm: Arm) -> list[bool]:
    return [_as_text(p.prediction) == o for p, o in zip(arm.predictions, arm.outcomes, strict=True)]


def _as_text(label: str | float) -> str:
    """A label as the outcomes file writes it: integral numbers without a decimal point."""
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label)


def _probability_matrix(arm: Arm) -> tuple[list[str], np.ndarray] | None:
    """Rows of class probabilities in one class order, when every prediction has them."""
    first = arm.predictions[0].probabilities
    if not first:
        return None
    classes = list(first)
    rows = []
    for prediction in arm.predictions:
        if prediction.probabilities is None or set(prediction.probabilities) != set(classes):
            return None
        rows.append([prediction.probabilities[name] for name in classes])
    return classes, np.asarray(rows, dtype=np.float64)


def _log_loss_and_auc(arm: Arm) -> tuple[float | None, float | None]:
    """Log loss when every outcome is a known class; ROC AUC when every class was observed."""
    matrix = _probability_matrix(arm)
    if matrix is None:
        return None, None
    classes, probabilities = matrix
    if not set(map(str, arm.outcomes)) <= set(classes):
        return None, None
    observed = np.asarray([classes.index(str(outcome)) for outcome in arm.outcomes])
    chosen = probabilities[np.arange(len(observed)), observed]
    log_loss = float(-np.log(np.clip(chosen, 1e-15, 1.0)).mean())
    if len(set(arm.outcomes)) < len(classes):
        return log_loss, None
    if len(classes) == _BINARY:
        return log_loss, float(roc_auc_score(observed == 1, probabilities[:, 1]))
    normalised = probabilities / probabilities.sum(axis=1, keepdims=True)
    auc = roc_auc_score(observed, normalised, multi_class="ovr", labels=range(len(classes)))
    return log_loss, float(auc)


class AccuracyStatistics:
    """Classification: accuracy with Wilson intervals, compared by the Agresti-Caffo interval."""

    primary_measure = "accuracy"
    higher_is_better = True

    def arm_report(self, arm: Arm) -> ArmReport:
        n = len(arm.outcomes)
        log_loss, roc_auc = _log_loss_and_auc(arm) if n else (None, None)
        return ArmReport(
            name=arm.name,
            role=arm.role,
            model_versions=tuple(sorted(arm.versions)),
            predictions=arm.logged,
            outcomes=n,
            accuracy=wilson_interval(sum(_correct(arm)), n) if n else None,
            log_loss=log_loss,
            roc_auc=roc_auc,
        )

    def compare(self, variant: Arm, baseline: Arm) -> Comparison:
        """Accuracy difference with the Agresti-Caffo interval (a two-proportion z-test)."""
        n_v, n_b = len(variant.outcomes), len(baseline.outcomes)
        if min(n_v, n_b) == 0:
            return _not_enough(self, variant, baseline, n_v, n_b)
        right_v, right_b = sum(_correct(variant)), sum(_correct(baseline))
        # One success and one failure added to each arm: a sound interval even at 0 % or 100 %.
        adjusted_v, adjusted_b = (right_v + 1) / (n_v + 2), (right_b + 1) / (n_b + 2)
        variance_v, variance_b = adjusted_v * (1 - adjusted_v), adjusted_b * (1 - adjusted_b)
        error = math.sqrt(variance_v / (n_v + 2) + variance_b / (n_b + 2))
        centre = adjusted_v - adjusted_b
        difference = Estimate(
            value=right_v / n_v - right_b / n_b, low=centre - _Z * error, high=centre + _Z * error
        )
        p_value = 2 * (1 - NormalDist().cdf(abs(centre) / error))
        return _verdict(
            self,
            variant,
            baseline,
            difference,
            p_value,
            variance_v + variance_b,
            higher_is_better=True,
        )

    def digits(self, _difference: Estimate) -> int:
        """Accuracy differences in percentage points with one decimal."""
        return 1

    def format_difference(self, value: float, digits: int, *, signed: bool = True) -> str:
        return f"{100 * value:{'+' if signed else ''}.{digits}f} pp"

    def describe(self, difference: Estimate, digits: int) -> str:
        return (
            f"{self.format_difference(difference.value, digits)} accuracy (95 % CI "
            f"{100 * difference.low:+.{digits}f} to {100 * difference.high:+.{digits}f})"
        )

    def notes(self, joined: Joined) -> list[str]:
        notes = []
        for arm in joined.arms.values():
            classes: set[str] = set()
            for prediction in arm.predictions:
                classes.update(prediction.probabilities or ())
            unknown = sorted(set(map(str, arm.outcomes)) - classes) if classes else []
            if unknown:
                notes.append(
                    f"{arm.name}: outcomes {', '.join(map(repr, unknown[:5]))} are no class the "
                    f"model knows ({', '.join(map(repr, sorted(classes)))}); they count as wrong"
                )
        return notes


def _errors(arm: Arm) -> np.ndarray:
    predicted = np.asarray([p.prediction for p in arm.predictions], dtype=np.float64)
    return np.asarray(arm.outcomes, dtype=np.float64) - predicted


def mean_interval(values: np.ndarray) -> Estimate:
    """A mean with its t interval (at least two values)."""
    n = len(values)
    if n < _MIN_OUTCOMES:
        msg = "a mean's interval needs at least two values"
        raise ValueError(msg)
    mean = float(values.mean())
    quantile = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1))
    half = quantile * float(values.std(ddof=1)) / math.sqrt(n)
    return Estimate(value=mean, low=mean - half, high=mean + half)


class ErrorStatistics:
    """Regression: MAE and RMSE with t intervals, compared by the Welch t-interval on MAE."""

    primary_measure = "MAE"
    higher_is_better = False

    def arm_report(self, arm: Arm) -> ArmReport:
        mae = rmse = None
        if len(arm.outcomes) >= _MIN_OUTCOMES:
            errors = _errors(arm)
            mae = mean_interval(np.abs(errors))
            # The interval of the mean squared error, carried through the square root.
            mse = mean_interval(errors**2)
            rmse = Estimate(
                value=math.sqrt(mse.value),
                low=math.sqrt(max(mse.low, 0.0)),
                high=math.sqrt(mse.high),
            )
        return ArmReport(
            name=arm.name,
            role=arm.role,
            model_versions=tuple(sorted(arm.versions)),
            predictions=arm.logged,
            outcomes=len(arm.outcomes),
            mae=mae,
            rmse=rmse,
        )

    def compare(self, variant: Arm, baseline: Arm) -> Comparison:
        """MAE difference with the Welch t-interval on absolute errors."""
        n_v, n_b = len(variant.outcomes), len(baseline.outcomes)
        if min(n_v, n_b) < _MIN_OUTCOMES:
            return _not_enough(self, variant, baseline, n_v, n_b)
        absolute_v, absolute_b = np.abs(_errors(variant)), np.abs(_errors(baseline))
        variance_v, variance_b = float(absolute_v.var(ddof=1)), float(absolute_b.var(ddof=1))
        share_v, share_b = variance_v / n_v, variance_b / n_b
        value = float(absolute_v.mean() - absolute_b.mean())
        error = math.sqrt(share_v + share_b)
        if error == 0:  # every absolute error the same in both arms: nothing is uncertain
            difference = Estimate(value=value, low=value, high=value)
            p_value = 1.0 if value == 0 else 0.0
        else:
            freedom = (share_v + share_b) ** 2 / (share_v**2 / (n_v - 1) + share_b**2 / (n_b - 1))
            half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, freedom)) * error
            difference = Estimate(value=value, low=value - half, high=value + half)
            p_value = float(2 * stats.t.sf(abs(value) / error, freedom))
        return _verdict(
            self,
            variant,
            baseline,
            difference,
            p_value,
            variance_v + variance_b,
            higher_is_better=False,
        )

    def digits(self, difference: Estimate) -> int:
        """Decimals that show two significant digits of the interval's width."""
        width = difference.high - difference.low
        scale = width if width > 0 else abs(difference.value)
        if scale == 0:
            return 2
        return min(6, max(0, 1 - math.floor(math.log10(scale / 2))))

    def format_difference(self, value: float, digits: int, *, signed: bool = True) -> str:
        return f"{value:{'+' if signed else ''}.{digits}f}"

    def describe(self, difference: Estimate, digits: int) -> str:
        return (
            f"MAE {self.format_difference(difference.value, digits)} (95 % CI "
            f"{difference.low:+.{digits}f} to {difference.high:+.{digits}f})"
        )

    def notes(self, _joined: Joined) -> list[str]:
        return []


# The A/B statistics of each problem type.
STATISTICS: dict[str, Statistics] = {
    "classification": AccuracyStatistics(),
    "regression": ErrorStatistics(),
}


def _not_enough(
    statistics: Statistics, variant: Arm, baseline: Arm, n_v: int, n_b: int
) -> Comparison:
    return Comparison(
        variant=variant.name,
        baseline=baseline.name,
        measure=statistics.primary_measure,
        difference=None,
        p_value=None,
        verdict="not enough outcomes",
        message=(
            f"not enough outcomes yet to compare {variant.name} with {baseline.name}, "
            f"n = {n_v:,} / {n_b:,}"
        ),
    )


def _verdict(  # noqa: PLR0917
    statistics: Statistics,
    variant: Arm,
    baseline: Arm,
    difference: Estimate,
    p_value: float,
    variance_sum: float,
    *,
    higher_is_better: bool,
) -> Comparison:
    n_v, n_b = len(variant.outcomes), len(baseline.outcomes)
    digits = statistics.digits(difference)
    sizes = f"n = {n_v:,} / {n_b:,}"
    described = statistics.describe(difference, digits)
    if difference.low > 0 or difference.high < 0:
        verdict: Verdict = "better" if (difference.low > 0) == higher_is_better else "worse"
        message = f"variant {variant.name} is {verdict} than {baseline.name}: {described}, {sizes}"
        return Comparison(
            variant=variant.name, baseline=baseline.name, measure=statistics.primary_measure,
            difference=difference, p_value=p_value, verdict=verdict, message=message,
        )  # fmt: skip
    more: int | None = None
    detectable: float | None = None
    if variance_sum == 0:  # only regression: Agresti-Caffo's variances are never 0
        power = "their errors are identical"
    elif difference.value != 0:
        more = max(1, math.ceil(_needed_per_arm(variance_sum, difference.value)) - min(n_v, n_b))
        detectable = abs(difference.value)
        shown = statistics.format_difference(detectable, digits, signed=False)
        power = f"about {more:,} more outcomes per variant would detect a difference of {shown}"
    else:
        detectable = _detectable(variance_sum, min(n_v, n_b))
        shown = statistics.format_difference(detectable, digits, signed=False)
        power = f"with this many outcomes only a difference of at least {shown} would be detected"
    message = (
        f"no significant difference yet between {variant.name} and {baseline.name}: "
        f"{described}, {sizes}; {power}"
    )
    return Comparison(
        variant=variant.name, baseline=baseline.name, measure=statistics.primary_measure,
        difference=difference, p_value=p_value, verdict="no significant difference",
        more_outcomes_per_variant=more, detectable_difference=detectable, message=message,
    )  # fmt: skip


def _choose_baseline(variants: list[Arm], asked: str | None) -> tuple[Arm, str]:
    if asked is not None:
        for arm in variants:
            if arm.name == asked:
                return arm, "as asked"
        known = ", ".join(sorted(arm.name for arm in variants))
        msg = f"unknown baseline variant '{asked}' (in the log: {known})"
        raise ExperimentError(msg)
    # Most traffic first; equal traffic: the first name, so that the choice is repeatable.
    chosen = min(variants, key=lambda arm: (-arm.logged, arm.name))
    return chosen, "the variant with the most traffic"


def _notes(statistics: Statistics, joined: Joined) -> list[str]:
    notes = []
    if joined.unmatched_predictions:
        notes.append(f"{joined.unmatched_predictions:,} predictions have no outcome (yet)")
    if joined.unmatched_outcomes:
        notes.append(
            f"{joined.unmatched_outcomes:,} of {joined.outcomes:,} outcomes match no single "
            "logged prediction"
        )
    if joined.ambiguous:
        notes.append(
            f"{joined.ambiguous:,} request ids (with row) were logged more than once "
            "and are left out: callers reused request ids"
        )
    return [*notes, *statistics.notes(joined)]


def analyse(joined: Joined, problem_type: str, baseline: str | None = None) -> ExperimentReport:
    """Measures per arm, and each variant compared with the baseline variant."""
    statistics = STATISTICS[problem_type]
    arms = sorted(joined.arms.values(), key=lambda arm: (arm.role == "shadow", arm.name))
    variants = [arm for arm in arms if arm.role == "variant"]
    chosen, reason = _choose_baseline(variants, baseline)
    comparisons = [statistics.compare(arm, chosen) for arm in variants if arm is not chosen]
    if not comparisons:
        verdict = [f"only one variant ({chosen.name}) in the log: nothing to compare"]
    elif len(comparisons) == 1:
        verdict = [comparisons[0].message]
    else:
        verdict = [
            f"each variant compared with {chosen.name}, {reason}:",
            *(comparison.message for comparison in comparisons),
        ]
    return ExperimentReport(
        arms=tuple(statistics.arm_report(arm) for arm in arms),
        baseline=chosen.name,
        comparisons=tuple(comparisons),
        verdict=tuple(verdict),
        notes=tuple(_notes(statistics, joined)),
        outcomes=joined.outcomes,
        unmatched_predictions=joined.unmatched_predictions,
        unmatched_outcomes=joined.unmatched_outcomes,
        ambiguous=joined.ambiguous,
    )
