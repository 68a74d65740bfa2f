"""A/B reports: the statistics, reading the log and the outcomes, and ab-report end to end.

Accuracy, log loss and ROC AUC are the classification statistics, MAE and RMSE (with Welch's
test) the regression ones; the join, the files and the command are checked for both."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import stats
from sklearn.metrics import log_loss, roc_auc_score
from typer.testing import CliRunner

from data_product_runtime import Project
from data_product_runtime.cli import build_cli
from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.experiments import (
    ExperimentError,
    Key,
    LoggedPrediction,
    Outcome,
    analyse,
    join,
    mean_interval,
    wilson_interval,
)
from data_product_runtime.core.routing import RoutingConfig, Variant
from data_product_runtime.io.experiment_data import (
    ExperimentDataError,
    read_outcomes,
    read_predictions,
)
from data_product_runtime.jobs.training import train
from data_product_runtime.service.prediction_log import PredictionLog

runner = CliRunner()

Experiment = tuple[list[LoggedPrediction], dict[Key, Outcome]]


def logged(request_id: str, variant: str, prediction: Any, **fields: Any) -> LoggedPrediction:
    return LoggedPrediction.model_validate(
        {"request_id": request_id, "variant": variant, "role": "variant"}
        | {"model_version": f"v-{variant}", "prediction": prediction}
        | fields
    )


def classification_experiment(
    arms: dict[str, tuple[int, float]], seed: int | None = None
) -> Experiment:
    """Per variant (size, accuracy): random hits with a seed, else exactly that share of hits."""
    rng = np.random.default_rng(seed)
    predictions: list[LoggedPrediction] = []
    outcomes: dict[Key, Outcome] = {}
    for variant, (size, accuracy) in arms.items():
        hits = (
            rng.random(size) < accuracy
            if seed is not None
            else np.arange(size) < round(accuracy * size)
        )
        for index, hit in enumerate(hits):
            predictions.append(logged(f"{variant}-{index}", variant, "yes"))
            outcomes[f"{variant}-{index}", 0] = "yes" if hit else "no"
    return predictions, outcomes


def regression_experiment(
    arms: dict[str, tuple[int, float]], seed: int | None = None
) -> Experiment:
    """Per variant (size, error scale): normal errors, from one pattern when no seed is given."""
    predictions: list[LoggedPrediction] = []
    outcomes: dict[Key, Outcome] = {}
    for variant, (size, scale) in arms.items():
        rng = np.random.default_rng(seed if seed is not None else 0)
        errors = scale * rng.standard_normal(size)
        seed = None if seed is None else seed + 1
        for index, error in enumerate(errors):
            predictions.append(logged(f"{variant}-{index}", variant, 10.0))
            outcomes[f"{variant}-{index}", 0] = 10.0 + float(error)
    return predictions, outcomes


# For the checks both problem types share: how an experiment is made, an arm parameter that
# makes the variants equal (accuracy or error scale), and a logged prediction.
EXPERIMENTS: dict[str, Callable[..., Experiment]] = {
    "classification": classification_experiment,
    "regression": regression_experiment,
}
EQUAL = {"classification": 0.8, "regression": 1.0}
PREDICTION: dict[str, Any] = {"classification": "yes", "regression": 1.0}


# -- classification statistics ------------------------------------------------------------


def classification(joined: Any, baseline: str | None = None) -> Any:
    return analyse(joined, "classification", baseline)


def regression(joined: Any, baseline: str | None = None) -> Any:
    return analyse(joined, "regression", baseline)


def test_wilson_interval_matches_published_values() -> None:
    # Newcombe (1998), Statistics in Medicine 17, table I, method 3 (Wilson score).
    for successes, trials, low, high in [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ]:
        interval = wilson_interval(successes, trials)
        assert interval.value == successes / trials
        assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)
    assert wilson_interval(20, 20).high == 1.0
    with pytest.raises(ValueError, match="at least one trial"):
        wilson_interval(0, 0)


def test_classification_a_clear_win() -> None:
    report = classification(
        join(
            *classification_experiment({"a": (2000, 0.80), "b": (2000, 0.86)}, seed=1), shadow=False
        )
    )
    (comparison,) = report.comparisons
    assert comparison.verdict == "better"
    assert comparison.difference is not None
    assert comparison.difference.low > 0
    assert comparison.p_value is not None
    assert comparison.p_value < 0.001
    accuracy = {arm.name: arm.accuracy.value for arm in report.arms if arm.accuracy}
    assert comparison.difference.value == pytest.approx(accuracy["b"] - accuracy["a"])
    assert report.verdict == (
        f"variant b is better than a: {100 * comparison.difference.value:+.1f} pp accuracy "
        f"(95 % CI {100 * comparison.difference.low:+.1f} to {100 * comparison.difference.high:+.1f}), "
        "n = 2,000 / 2,000",
    )


def test_classification_a_clear_loss() -> None:
    report = classification(
        join(
            *classification_experiment({"a": (1500, 0.90), "b": (1500, 0.80)}, seed=2), shadow=False
        )
    )
    (comparison,) = report.comparisons
    assert comparison.verdict == "worse"
    assert comparison.difference is not None
    assert comparison.difference.high < 0
    assert report.verdict[0].startswith("variant b is worse than a: -")
    assert "pp accuracy (95 % CI -" in report.verdict[0]


def test_classification_an_inconclusive_test_says_how_many_more_outcomes_would_decide() -> None:
    report = classification(
        join(*classification_experiment({"a": (300, 0.85), "b": (300, 0.88)}), shadow=False)
    )
    (comparison,) = report.comparisons
    assert comparison.verdict == "no significant difference"
    assert comparison.more_outcomes_per_variant is not None
    assert comparison.detectable_difference == pytest.approx(0.03)
    more = comparison.more_outcomes_per_variant
    assert report.verdict[0].startswith("no significant difference yet between b and a: +3.0 pp")
    assert report.verdict[0].endswith(
        f"n = 300 / 300; about {more:,} more outcomes per variant would detect a difference of 3.0 pp"
    )
    # The promise holds: with that many more outcomes at the same accuracies, the test decides.
    size = 300 + more
    larger = classification(
        join(*classification_experiment({"a": (size, 0.85), "b": (size, 0.88)}), shadow=False)
    )
    assert larger.comparisons[0].verdict == "better"


def test_classification_equal_variants_say_what_difference_could_be_seen() -> None:
    report = classification(
        join(*classification_experiment({"a": (400, 0.9), "b": (400, 0.9)}), shadow=False)
    )
    (comparison,) = report.comparisons
    assert comparison.verdict == "no significant difference"
    assert comparison.more_outcomes_per_variant is None
    assert "only a difference of at least 6.0 pp would be detected" in report.verdict[0]


def test_classification_log_loss_and_roc_auc_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    classes = ["x", "y", "z"]
    probabilities = rng.dirichlet(np.ones(3), size=200)
    observed = [classes[int(rng.choice(3, p=row))] for row in probabilities]
    predictions = [
        logged(
            f"r{i}",
            "a",
            classes[int(row.argmax())],
            probabilities=dict(zip(classes, row.tolist(), strict=True)),
        )
        for i, row in enumerate(probabilities)
    ]
    outcomes: dict[Key, Outcome] = {(f"r{i}", 0): label for i, label in enumerate(observed)}
    (arm,) = classification(join(predictions, outcomes, shadow=False)).arms
    assert arm.log_loss == pytest.approx(log_loss(observed, probabilities, labels=classes))
    assert arm.roc_auc == pytest.approx(
        roc_auc_score(observed, probabilities, multi_class="ovr", labels=classes)
    )
    binary = [
        logged(f"r{i}", "a", "y", probabilities={"x": 1 - p, "y": p})
        for i, p in enumerate(probabilities[:, 0])
    ]
    binary_outcomes: dict[Key, Outcome] = {
        (f"r{i}", 0): "y" if row.argmax() == 0 else "x" for i, row in enumerate(probabilities)
    }
    (arm,) = classification(join(binary, binary_outcomes, shadow=False)).arms
    truth = [label == "y" for label in binary_outcomes.values()]
    assert arm.roc_auc == pytest.approx(roc_auc_score(truth, probabilities[:, 0]))


def test_classification_outcomes_the_model_does_not_know_are_wrong_and_named() -> None:
    predictions = [logged(f"r{i}", "a", "1", probabilities={"0": 0.2, "1": 0.8}) for i in range(4)]
    outcomes: dict[Key, Outcome] = {
        ("r0", 0): "1",
        ("r1", 0): "1",
        ("r2", 0): "1",
        ("r3", 0): "malignant",
    }
    report = classification(join(predictions, outcomes, shadow=False))
    (arm,) = report.arms
    assert arm.accuracy is not None
    assert arm.accuracy.value == 0.75
    assert (arm.log_loss, arm.roc_auc) == (None, None)
    assert report.notes == (
        "a: outcomes 'malignant' are no class the model knows ('0', '1'); they count as wrong",
    )


def test_classification_log_loss_needs_every_probability_and_roc_auc_every_class() -> None:
    predictions = [
        logged(f"r{i}", "a", "y", probabilities={"x": 0.25, "y": 0.75}) for i in range(3)
    ]
    outcomes: dict[Key, Outcome] = {(f"r{i}", 0): "y" for i in range(3)}
    (arm,) = classification(join(predictions, outcomes, shadow=False)).arms
    assert arm.log_loss == pytest.approx(-math.log(0.75))
    assert arm.roc_auc is None
    predictions[1] = logged("r1", "a", "y")
    (arm,) = classification(join(predictions, outcomes, shadow=False)).arms
    assert (arm.log_loss, arm.roc_auc) == (None, None)


def test_classification_numeric_labels_compare_with_the_text_of_the_outcomes() -> None:
    predictions = [logged("r0", "a", 1.0), logged("r1", "a", 0), logged("r2", "a", 2.5)]
    outcomes: dict[Key, Outcome] = {("r0", 0): "1", ("r1", 0): "0", ("r2", 0): "2.5"}
    (arm,) = classification(join(predictions, outcomes, shadow=False)).arms
    assert arm.accuracy is not None
    assert arm.accuracy.value == 1.0
    assert arm.log_loss is None


# -- regression statistics ----------------------------------------------------------------


def test_mean_interval_matches_known_values() -> None:
    # 1..5: mean 3, s = 1.5811, t(0.975, 4) = 2.7764; half-width 1.9632.
    interval = mean_interval(np.arange(1.0, 6.0))
    assert interval.value == 3.0
    assert (round(interval.low, 4), round(interval.high, 4)) == (1.0368, 4.9632)
    with pytest.raises(ValueError, match="at least two values"):
        mean_interval(np.array([1.0]))


def test_regression_mae_and_rmse_agree_with_numpy() -> None:
    predictions, outcomes = regression_experiment({"a": (500, 2.0)}, seed=4)
    (arm,) = regression(join(predictions, outcomes, shadow=False)).arms
    errors = np.array(list(outcomes.values())) - 10.0
    assert arm.mae is not None
    assert arm.rmse is not None
    assert arm.mae.value == pytest.approx(np.abs(errors).mean())
    assert arm.rmse.value == pytest.approx(math.sqrt((errors**2).mean()))
    assert arm.mae.low < arm.mae.value < arm.mae.high
    assert arm.rmse.low < 2.0 < arm.rmse.high


def welch(experiment_data: Experiment) -> Any:
    predictions, outcomes = experiment_data
    absolute = {
        name: [
            abs(float(outcomes[p.key]) - float(p.prediction))
            for p in predictions
            if p.variant == name
        ]
        for name in ("a", "b")
    }
    return stats.ttest_ind(absolute["b"], absolute["a"], equal_var=False)


def test_regression_a_clear_win() -> None:
    data = regression_experiment({"a": (800, 3.0), "b": (800, 2.5)}, seed=1)
    report = regression(join(*data, shadow=False))
    (comparison,) = report.comparisons
    assert comparison.verdict == "better"
    assert comparison.difference is not None
    expected = welch(data)
    assert comparison.p_value == pytest.approx(expected.pvalue)
    low, high = expected.confidence_interval(0.95)
    assert (comparison.difference.low, comparison.difference.high) == pytest.approx((low, high))
    assert comparison.difference.high < 0
    assert report.verdict[0].startswith("variant b is better than a: MAE -0.")
    assert report.verdict[0].endswith("n = 800 / 800")


def test_regression_a_clear_loss() -> None:
    data = regression_experiment({"a": (600, 1.0), "b": (600, 1.3)}, seed=2)
    report = regression(join(*data, shadow=False))
    (comparison,) = report.comparisons
    assert comparison.verdict == "worse"
    assert comparison.difference is not None
    assert comparison.difference.low > 0
    assert report.verdict[0].startswith("variant b is worse than a: MAE +0.")


def test_regression_an_inconclusive_test_says_how_many_more_outcomes_would_decide() -> None:
    report = regression(
        join(*regression_experiment({"a": (200, 2.0), "b": (200, 1.9)}), shadow=False)
    )
    (comparison,) = report.comparisons
    assert comparison.verdict == "no significant difference"
    assert comparison.more_outcomes_per_variant is not None
    more = comparison.more_outcomes_per_variant
    assert report.verdict[0].startswith("no significant difference yet between b and a: MAE -0.0")
    assert (
        f"n = 200 / 200; about {more:,} more outcomes per variant would detect" in report.verdict[0]
    )
    # The promise holds: with that many more outcomes at the same error scales, the test decides.
    size = 200 + more
    larger = regression(
        join(*regression_experiment({"a": (size, 2.0), "b": (size, 1.9)}), shadow=False)
    )
    assert larger.comparisons[0].verdict == "better"


def test_regression_identical_errors_are_no_difference() -> None:
    predictions = [logged(f"{v}{i}", v, 1.0) for v in "ab" for i in range(3)]
    outcomes: dict[Key, Outcome] = {(f"{v}{i}", 0): 2.0 for v in "ab" for i in range(3)}
    report = regression(join(predictions, outcomes, shadow=False))
    assert report.comparisons[0].verdict == "no significant difference"
    assert report.verdict[0].endswith("their errors are identical")
    same = regression(join(*regression_experiment({"a": (50, 1.0), "b": (50, 1.0)}), shadow=False))
    assert same.comparisons[0].more_outcomes_per_variant is None
    assert "+0.00 (95 % CI -0." in same.verdict[0]
    assert "only a difference of at least 0." in same.verdict[0]
    outcomes["b0", 0] = outcomes["b1", 0] = outcomes["b2", 0] = 3.0
    assert regression(join(predictions, outcomes, shadow=False)).comparisons[0].verdict == "worse"


# -- what both problem types share ---------------------------------------------------------


def test_more_than_two_variants_are_compared_with_the_busiest(problem_type: str) -> None:
    arm = EQUAL[problem_type]
    predictions, outcomes = EXPERIMENTS[problem_type](
        {"a": (100, arm), "b": (100, arm), "c": (300, arm)}, seed=5
    )
    report = analyse(join(predictions, outcomes, shadow=False), problem_type)
    assert report.baseline == "c"
    assert [(c.variant, c.baseline) for c in report.comparisons] == [("a", "c"), ("b", "c")]
    assert report.verdict[0] == "each variant compared with c, the variant with the most traffic:"
    assert len(report.verdict) == 3
    chosen = analyse(join(predictions, outcomes, shadow=False), problem_type, baseline="a")
    assert [(c.variant, c.baseline) for c in chosen.comparisons] == [("b", "a"), ("c", "a")]
    assert chosen.verdict[0] == "each variant compared with a, as asked:"
    with pytest.raises(
        ExperimentError, match=r"unknown baseline variant 'z' \(in the log: a, b, c\)"
    ):
        analyse(join(predictions, outcomes, shadow=False), problem_type, baseline="z")


def test_one_variant_has_nothing_to_compare(problem_type: str) -> None:
    arm = {"classification": 0.5, "regression": 1.0}[problem_type]
    experiment = EXPERIMENTS[problem_type]({"main": (10, arm)}, seed=6)
    report = analyse(join(*experiment, shadow=False), problem_type)
    assert report.comparisons == ()
    assert report.verdict == ("only one variant (main) in the log: nothing to compare",)


def test_a_variant_without_outcomes_cannot_be_judged_yet(problem_type: str) -> None:
    arm = {"classification": 0.5, "regression": 1.0}[problem_type]
    predictions, outcomes = EXPERIMENTS[problem_type]({"a": (5, arm)}, seed=7)
    predictions += [logged(f"b-{i}", "b", PREDICTION[problem_type]) for i in range(9)]
    report = analyse(join(predictions, outcomes, shadow=False), problem_type)
    assert report.baseline == "b"
    assert report.verdict == ("not enough outcomes yet to compare a with b, n = 5 / 0",)
    assert report.unmatched_predictions == 9
    assert report.notes == ("9 predictions have no outcome (yet)",)


def test_join_counts_what_does_not_match_and_leaves_out_reused_request_ids(
    problem_type: str,
) -> None:
    prediction = PREDICTION[problem_type]
    predictions = [
        logged("r1", "a", prediction),
        logged("r1", "a", prediction, row=1),
        logged("r2", "b", prediction),
        logged("r2", "a", prediction),  # a caller reused r2: which variant answered is unknown
        logged("r3", "b", prediction),
        logged("r3", "b", prediction, role="shadow", model_version="old"),
        logged("r9", "b", prediction),
    ]
    outcomes: dict[Key, Outcome] = {
        ("r1", 0): prediction, ("r1", 1): prediction, ("r2", 0): prediction,
        ("r3", 0): prediction, ("r4", 0): prediction,
    }  # fmt: skip
    joined = join(predictions, outcomes, shadow=False)
    assert {name: len(arm.outcomes) for name, arm in joined.arms.items()} == {"a": 2, "b": 1}
    assert {name: arm.logged for name, arm in joined.arms.items()} == {"a": 3, "b": 3}
    assert (joined.unmatched_predictions, joined.unmatched_outcomes, joined.ambiguous) == (1, 2, 1)
    report = analyse(joined, problem_type)
    assert report.notes == (
        "1 predictions have no outcome (yet)",
        "2 of 5 outcomes match no single logged prediction",
        "1 request ids (with row) were logged more than once and are left out: callers reused request ids",
    )
    with_shadow = analyse(join(predictions, outcomes, shadow=True), problem_type)
    assert [(arm.name, arm.role, arm.outcomes) for arm in with_shadow.arms] == [
        ("a", "variant", 2), ("b", "variant", 1), ("shadow old", "shadow", 1),
    ]  # fmt: skip
    assert with_shadow.arms[2].model_versions == ("old",)


def test_join_refuses_an_empty_log_and_a_log_without_outcomes(problem_type: str) -> None:
    prediction = PREDICTION[problem_type]
    with pytest.raises(ExperimentError, match="the prediction log has no predictions"):
        join([], {("r1", 0): prediction}, shadow=False)
    with pytest.raises(
        ExperimentError, match="no logged prediction has an outcome: 2 predictions, 1 outcomes"
    ):
        join(
            [logged("r2", "a", prediction), logged("r3", "a", prediction)],
            {("r1", 0): prediction},
            shadow=False,
        )


def write_log(path: Path, *lines: str) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


ANSWERS: dict[str, dict[str, Any]] = {
    "classification": {"prediction": "yes", "probabilities": {"no": 0.1, "yes": 0.9}},
    "regression": {"prediction": 1.5},
}
LINES = {
    problem_type: json.dumps(
        {"at": "2026-01-01T00:00:00+00:00", "request_id": "r1", "row": 0, "variant": "a"}
        | {"role": "variant", "model_version": "v1", "inputs_sha256": "0" * 64}
        | answer
    )
    for problem_type, answer in ANSWERS.items()
}


def test_read_predictions(problem_type: str, tmp_path: Path) -> None:
    line = LINES[problem_type]
    log = write_log(tmp_path / "log.jsonl", line, "", line.replace('"r1"', '"r2"'))
    assert [p.key for p in read_predictions(log)] == [("r1", 0), ("r2", 0)]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda line: "{not json", "line 2: unreadable prediction: Invalid JSON"),
        (
            lambda line: line.replace('"variant": "a", ', ""),
            "line 2: unreadable prediction: variant: Field required",
        ),
        (
            lambda line: line.replace('"role": "variant"', '"role": "boss"'),
            "line 2: unreadable prediction: role: Input should be 'variant' or 'shadow'",
        ),
        (
            lambda line: line.replace('"row": 0', '"row": -1'),
            "line 2: unreadable prediction: row: Input should be greater than or equal to 0",
        ),
    ],
    ids=["json", "variant", "role", "row"],
)
def test_unreadable_log_lines_are_named(
    problem_type: str, tmp_path: Path, damage: Callable[[str], str], message: str
) -> None:
    line = LINES[problem_type]
    log = write_log(tmp_path / "log.jsonl", line, damage(line))
    with pytest.raises(ExperimentDataError, match=message):
        list(read_predictions(log))


def test_read_outcomes_of_classification(tmp_path: Path) -> None:
    path = tmp_path / "outcomes.csv"
    path.write_text("request_id,outcome\nr1,yes\nr2, no \n")
    assert read_outcomes(path, "classification") == {("r1", 0): "yes", ("r2", 0): "no"}
    path.write_text("row,outcome,request_id,note\n0,1,r1,x\n3,2,r1,\n,3,r2,y\n")
    assert read_outcomes(path, "classification") == {
        ("r1", 0): "1",
        ("r1", 3): "2",
        ("r2", 0): "3",
    }


def test_read_outcomes_of_regression(tmp_path: Path) -> None:
    path = tmp_path / "outcomes.csv"
    path.write_text("request_id,outcome\nr1,1.5\nr2, -2 \n")
    assert read_outcomes(path, "regression") == {("r1", 0): 1.5, ("r2", 0): -2.0}
    path.write_text("row,outcome,request_id,note\n0,1,r1,x\n3,2,r1,\n,3,r2,y\n")
    assert read_outcomes(path, "regression") == {("r1", 0): 1.0, ("r1", 3): 2.0, ("r2", 0): 3.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "id,outcome\nr1,1\n",
            "missing column\\(s\\) request_id; outcomes need request_id and outcome, and optionally row \\(found: id, outcome\\)",
        ),
        ("", "missing column\\(s\\) request_id, outcome; .* \\(found: nothing\\)"),
        ("request_id,outcome\n", "no outcomes, only a header"),
        (
            "request_id,outcome\nr1,1\nr2,1\nr1,1\n",
            "line 4: request r1 row 0 already has an outcome on line 2",
        ),
        ("request_id,outcome\n,1\n", "line 2: empty request_id"),
        ("request_id,outcome\nr1,\n", "line 2: empty outcome"),
        ("request_id,outcome\nr1\n", "line 2: empty outcome"),
        ("request_id,row,outcome\nr1,first,1\n", "line 2: row 'first' is not a row number"),
        ("request_id,row,outcome\nr1,-2,1\n", "line 2: row '-2' is not a row number"),
    ],
)
def test_bad_outcomes_are_refused_by_line(
    problem_type: str, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "outcomes.csv"
    path.write_text(text)
    with pytest.raises(ExperimentDataError, match=message):
        read_outcomes(path, problem_type)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("request_id,outcome\nr1,high\n", "line 2: outcome 'high' is not a finite number"),
        ("request_id,outcome\nr1,nan\n", "line 2: outcome 'nan' is not a finite number"),
    ],
)
def test_regression_outcomes_must_be_finite_numbers(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "outcomes.csv"
    path.write_text(text)
    with pytest.raises(ExperimentDataError, match=message):
        read_outcomes(path, "regression")
    assert read_outcomes(path, "classification") == {
        ("r1", 0): text.rsplit(",", maxsplit=1)[-1].strip()
    }


def test_missing_and_unreadable_files(problem_type: str, tmp_path: Path) -> None:
    with pytest.raises(ExperimentDataError, match=r"nothing\.csv: no such file"):
        read_outcomes(tmp_path / "nothing.csv", problem_type)
    with pytest.raises(ExperimentDataError, match=r"nothing\.jsonl: no such file"):
        read_predictions(tmp_path / "nothing.jsonl")
    (tmp_path / "latin1.csv").write_bytes("request_id,outcome\nr1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(ExperimentDataError, match=r"latin1\.csv: unreadable CSV file"):
        read_outcomes(tmp_path / "latin1.csv", problem_type)


def test_ab_report_fails_with_one_clear_line(
    project: Project, problem_type: str, tmp_path: Path
) -> None:
    app = build_cli(project)
    log = write_log(tmp_path / "log.jsonl", LINES[problem_type])
    result = runner.invoke(
        app, ["ab-report", "--log", str(log), "--outcomes", str(tmp_path / "no.csv")]
    )
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {tmp_path / 'no.csv'}: no such file"
    (tmp_path / "outcomes.csv").write_text("request_id,outcome\nr7,1\n")
    absent = tmp_path / "absent.jsonl"
    result = runner.invoke(
        app,
        ["ab-report", "--outcomes", str(tmp_path / "outcomes.csv")],
        env={"EXAMPLE_PREDICTION_LOG": str(absent)},
    )
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {absent}: no such file"


@pytest.fixture(scope="module")
def two_models(project: Project, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    folder = tmp_path_factory.mktemp("ab")
    older = train(project, project.settings(model_dir=folder)).version
    newer = train(project, project.settings(model_dir=folder, random_seed=7)).version
    return folder, older, newer


def test_ab_report_end_to_end(
    project: Project,
    two_models: tuple[Path, str, str],
    bundled: Dataset,
    tmp_path: Path,
    server: Callable[..., TestClient],
) -> None:
    app = build_cli(project)
    folder, older, newer = two_models
    routing = RoutingConfig(
        variants=(
            Variant(name="a", model=older, weight=1),
            Variant(name="b", model=newer, weight=1),
        ),
        shadow=(older,),
    )
    records = [
        dict(zip(bundled.feature_names, row.tolist(), strict=True)) for row in bundled.features
    ]
    log = tmp_path / "predictions.jsonl"
    answers: list[tuple[str, int, str, Any]] = []  # request id, row, variant, prediction
    with server(folder, routing, prediction_log=PredictionLog(log)) as client:
        for index in range(120):
            body = client.post(
                "/predict", json={"features": records[index], "key": f"customer-{index}"}
            ).json()
            answers.append((body["request_id"], 0, body["variant"], body["prediction"]))
        for start in (120, 150):
            body = client.post(
                "/predict/batch",
                json={"records": records[start : start + 30], "key": f"batch-{start}"},
            ).json()
            answers += [
                (body["request_id"], row, body["variant"], p["prediction"])
                for row, p in enumerate(body["predictions"])
            ]
    targets = bundled.target.tolist()
    outcomes = tmp_path / "outcomes.csv"
    # The last prediction never gets an outcome; one outcome belongs to no prediction.
    rows = [
        f"{request_id},{row},{targets[index]}"
        for index, (request_id, row, _, _) in enumerate(answers[:-1])
    ]
    outcomes.write_text("request_id,row,outcome\n" + "\n".join([*rows, "unknown,0,1"]) + "\n")

    result = runner.invoke(
        app, ["ab-report", "--log", str(log), "--outcomes", str(outcomes), "--json", "--shadow"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    arms = {arm["name"]: arm for arm in report["arms"]}
    assert set(arms) == {"a", "b", f"shadow {older}"}
    assert (report["unmatched_predictions"], report["unmatched_outcomes"]) == (1, 1)
    for name, version in (("a", older), ("b", newer)):
        pairs = [
            (answer[3], targets[index])
            for index, answer in enumerate(answers[:-1])
            if answer[2] == name
        ]
        assert arms[name]["model_versions"] == [version]
        assert arms[name]["predictions"] == sum(answer[2] == name for answer in answers)
        assert arms[name]["outcomes"] == len(pairs)
        if project.problem_type == "classification":
            assert arms[name]["accuracy"]["value"] == pytest.approx(
                np.mean([p == t for p, t in pairs])
            )
        else:
            assert arms[name]["mae"]["value"] == pytest.approx(
                np.mean([abs(p - t) for p, t in pairs])
            )
    # The shadow (the older model) scored every request the newer model answered.
    assert arms[f"shadow {older}"]["outcomes"] == arms["b"]["outcomes"]
    (comparison,) = report["comparisons"]
    assert report["verdict"] == [comparison["message"]]

    table = runner.invoke(app, ["ab-report", "--log", str(log), "--outcomes", str(outcomes)])
    assert table.exit_code == 0, table.output
    assert "A/B report" in table.output
    assert f"shadow {older}" not in table.output
    assert "note: 1 predictions have no outcome (yet)" in table.output
    assert comparison["message"] in table.output.replace("\n", " ")
