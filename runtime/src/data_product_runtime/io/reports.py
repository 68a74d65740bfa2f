"""The evaluation report: one self-contained HTML page that compares models at a glance.

The verdict comes first, then the metric table (each metric's direction, the naive baseline,
the gain over the reference), then a grid of plots that draw every compared model on the same
axes.
The plots are PNG images inside the page, so a report is one file to attach or publish.
"""

import base64
import html
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import NDArray

from data_product_runtime.core.problems import Label, Problem

BASELINE = "naive baseline"
# Every plot has the same size, so the grid's cells are equal and their text the same size.
_FIGURE_SIZE = (5.0, 4.0)
# Scatter plots draw at most this many held-out rows (the same rows for every model).
_SCATTER_ROWS = 2000
# One colour per compared model in every plot; the baseline is grey and dashed.
_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple")
_BASELINE_COLOUR = "tab:gray"
# The plot files of releases up to 2.0.0, one folder per version: removed on the next run.
_EARLIER_PLOT_FILES = {
    "calibration.png",
    "confusion-matrix.png",
    "precision-recall.png",
    "roc.png",
    "actual-vs-predicted.png",
    "residual-vs-predicted.png",
}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 90rem; padding: 0 1rem;
  color: #1b1b1b }
.verdict { font-size: 1.25rem; padding: .6rem 1rem; border-left: .4rem solid; }
.promote { border-color: #1a7f37; background: #eaf6ec } .hold { border-color: #cf222e;
  background: #fbeaea } .none { border-color: #888; background: #f2f2f2 }
table { border-collapse: collapse; margin: 1rem 0 } th, td { border: 1px solid #ccc;
  padding: .3rem .7rem } td.number { text-align: right; font-variant-numeric: tabular-nums }
th small { font-weight: normal } .better { font-weight: bold; color: #1a7f37 }
.worse { color: #cf222e } code { overflow-wrap: anywhere }
.grid { display: grid; gap: 1rem;
  grid-template-columns: repeat(auto-fill, minmax(min(100%, 24rem), 1fr)) }
figure { margin: 0; border: 1px solid #ddd; padding: .5rem }
figure h3 { margin: 0 0 .4rem; font-size: 1rem } figure img { width: 100%; height: auto }
"""


@dataclass(frozen=True)
class ModelEvaluation:
    """One compared model on the held-out rows: its metrics and its outputs (for the plots)."""

    role: str
    version: str
    metrics: dict[str, float]
    outputs: NDArray[np.float64]


@dataclass(frozen=True)
class Verdict:
    """Whether to promote, in one plain sentence, and the rule behind it."""

    promote: bool | None  # None: nothing was compared, no decision
    decision: str
    detail: str


@dataclass(frozen=True)
class Comparison:
    """What the report compares: the evaluated model first, then its reference if any, then
    the naive baseline, all on the same held-out rows."""

    problem: Problem
    evaluations: list[ModelEvaluation]
    target: NDArray[np.generic]
    classes: tuple[Label, ...] | None

    @property
    def models(self) -> list[ModelEvaluation]:
        return [e for e in self.evaluations if e.role != BASELINE]

    @property
    def baseline(self) -> ModelEvaluation:
        return next(e for e in self.evaluations if e.role == BASELINE)

    @property
    def reference(self) -> ModelEvaluation:
        """What the evaluated model is measured against: its reference, else the baseline."""
        others = self.models[1:]
        return others[0] if others else self.baseline

    def gain(self, metric: str) -> float:
        """How much better the evaluated model is than the reference on ``metric``."""
        evaluated = self.models[0].metrics[metric]
        return self.problem.gain(metric, evaluated, self.reference.metrics[metric])


def write_report(comparison: Comparison, verdict: Verdict, data_note: str, path: Path) -> Path:
    """The page at ``path``; folders of plots written there by earlier releases are removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_earlier_plot_folders(path.parent)
    mpl.use("Agg")  # files only: no display, no GUI toolkit
    figures = "".join(
        f"<figure><h3>{html.escape(title)}</h3>"
        f'<img src="data:image/png;base64,{_png(figure)}" alt="{html.escape(title)}"></figure>'
        for title, figure in plots(comparison)
    )
    css = "promote" if verdict.promote else "none" if verdict.promote is None else "hold"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model evaluation</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_STYLE}</style></head>
<body><h1>Model evaluation</h1>
<p class="verdict {css}">{html.escape(verdict.decision)}</p>
<p>{html.escape(verdict.detail)}</p>
<p>{html.escape(data_note)}</p>
<h2>Metrics</h2>{_metric_table(comparison)}
<h2>Plots</h2><div class="grid">{figures}</div></body></html>
"""
    path.write_text(page)
    return path


def _metric_table(comparison: Comparison) -> str:
    columns = [*comparison.models, comparison.baseline]
    header = "".join(
        f"<th>{html.escape(e.role)}<br><small><code>{html.escape(e.version)}</code></small></th>"
        for e in columns
    )
    rows = []
    for metric in comparison.evaluations[0].metrics:
        gain = comparison.gain(metric)
        # The best value of the row, marked (a gain over zero orders values by direction).
        best = max(
            range(len(columns)),
            key=lambda i: comparison.problem.gain(metric, columns[i].metrics[metric], 0.0),
        )
        cells = "".join(
            f'<td class="number{" better" if i == best else ""}">{e.metrics[metric]:.4f}</td>'
            for i, e in enumerate(columns)
        )
        mark = "better" if gain > 0 else "worse" if gain < 0 else ""
        word = f" {mark or 'equal'}"
        primary = " <small>(primary)</small>" if metric == comparison.problem.primary_metric else ""
        rows.append(
            f"<tr><td>{html.escape(metric)}{primary}</td>"
            f"<td>{comparison.problem.better_when(metric)}</td>{cells}"
            f'<td class="number {mark}">{gain:+.4f}{word}</td></tr>'
        )
    return (
        f"<table><tr><th>metric</th><th>better when</th>{header}"
        f"<th>gain<br><small>{html.escape(comparison.models[0].role)} over "
        f"{html.escape(comparison.reference.role)}</small></th></tr>{''.join(rows)}</table>"
    )


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _remove_earlier_plot_folders(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            names = {path.name for path in child.iterdir()}
            if names and names <= _EARLIER_PLOT_FILES:
                shutil.rmtree(child)


def _axes() -> tuple[Figure, Axes]:
    """One plot's figure (its title is the grid cell's heading)."""
    return plt.subplots(figsize=_FIGURE_SIZE, layout="constrained")


def _label(evaluation: ModelEvaluation) -> str:
    if evaluation.role == BASELINE:
        return BASELINE
    return f"{evaluation.role} {evaluation.version}"


def plots(comparison: Comparison) -> list[tuple[str, Figure]]:
    if comparison.problem.name == "regression":
        return _regression_plots(comparison)
    return _classification_plots(comparison)


def _classification_plots(comparison: Comparison) -> list[tuple[str, Figure]]:
    from sklearn.calibration import calibration_curve  # noqa: PLC0415
    from sklearn.metrics import (  # noqa: PLC0415
        ConfusionMatrixDisplay,
        average_precision_score,
        precision_recall_curve,
        roc_curve,
    )

    classes = np.asarray(comparison.classes or ())
    plots: list[tuple[str, Figure]] = []
    if len(classes) == 2:  # noqa: PLR2004  (curves of the positive class)
        positive = classes[1]
        actual = comparison.target == positive
        roc, roc_axes = _axes()
        pr, pr_axes = _axes()
        calibration, calibration_axes = _axes()
        for index, evaluation in enumerate(comparison.evaluations):
            score = evaluation.outputs[:, 1]
            baseline = evaluation.role == BASELINE
            colour = _BASELINE_COLOUR if baseline else _COLOURS[index % len(_COLOURS)]
            line = "--" if baseline else "-"
            false_positive, true_positive, _ = roc_curve(actual, score)
            roc_axes.plot(
                false_positive,
                true_positive,
                label=f"{_label(evaluation)} (AUC {evaluation.metrics['roc_auc']:.4f})",
                color=colour,
                linestyle=line,
            )
            precision, recall, _ = precision_recall_curve(actual, score)
            pr_axes.plot(
                recall,
                precision,
                drawstyle="steps-post",
                label=f"{_label(evaluation)} (AP {average_precision_score(actual, score):.4f})",
                color=colour,
                linestyle=line,
            )
            observed, predicted = calibration_curve(actual, score, n_bins=10)
            calibration_axes.plot(
                predicted,
                observed,
                marker="o",
                label=_label(evaluation),
                color=colour,
                linestyle=line,
            )
        calibration_axes.plot([0, 1], [0, 1], color="black", linewidth=0.8, label="perfect")
        for axes, (x, y) in [
            (roc_axes, ("false positive rate", "true positive rate")),
            (pr_axes, ("recall", "precision")),
            (calibration_axes, ("mean predicted probability", "fraction of positives")),
        ]:
            axes.set(xlabel=x, ylabel=y, xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
            axes.legend(fontsize="small", loc="best")
        plots += [
            (f"ROC curve (positive class: {positive})", roc),
            (f"Precision-recall curve (positive class: {positive})", pr),
            ("Calibration (10 bins of equal width)", calibration),
        ]
    for evaluation in comparison.models:
        figure, axes = _axes()
        predicted = classes[evaluation.outputs.argmax(axis=1)]
        ConfusionMatrixDisplay.from_predictions(
            comparison.target, predicted, labels=classes, ax=axes, colorbar=False
        )
        plots.append((f"Confusion matrix: {_label(evaluation)}", figure))
    return plots


def _regression_plots(comparison: Comparison) -> list[tuple[str, Figure]]:
    actual = np.asarray(comparison.target, dtype=np.float64)
    rows = np.arange(len(actual))
    if len(rows) > _SCATTER_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(rows, _SCATTER_ROWS, replace=False))
    drawn = f" ({len(rows):,} of {len(actual):,} rows)" if len(rows) < len(actual) else ""
    scatter, scatter_axes = _axes()
    residuals, residual_axes = _axes()
    spread, spread_axes = _axes()
    edges: list[float] = np.histogram_bin_edges(
        np.concatenate([actual - e.outputs for e in comparison.models]), bins=30
    ).tolist()
    for index, evaluation in enumerate(comparison.models):
        colour = _COLOURS[index % len(_COLOURS)]
        predicted = evaluation.outputs
        label = f"{_label(evaluation)} (RMSE {evaluation.metrics['rmse']:.4f})"
        scatter_axes.scatter(
            actual[rows], predicted[rows], s=8, alpha=0.5, color=colour, label=label
        )
        residual_axes.scatter(
            predicted[rows], (actual - predicted)[rows], s=8, alpha=0.5, color=colour, label=label
        )
        spread_axes.hist(actual - predicted, bins=edges, histtype="step", color=colour, label=label)
    low, high = float(actual.min()), float(actual.max())
    scatter_axes.plot([low, high], [low, high], color="black", linewidth=0.8, label="perfect")
    baseline_value = float(np.mean(comparison.baseline.outputs))
    scatter_axes.axhline(baseline_value, label=BASELINE, color=_BASELINE_COLOUR, linestyle="--")
    residual_axes.axhline(0.0, color="black", linewidth=0.8)
    scatter_axes.set(xlabel="actual", ylabel="predicted")
    residual_axes.set(xlabel="predicted", ylabel="residual (actual - predicted)")
    spread_axes.set(xlabel="residual", ylabel="rows")
    for axes in (scatter_axes, residual_axes, spread_axes):
        axes.legend(fontsize="small", loc="best")
    return [
        (f"Predicted against actual{drawn}", scatter),
        (f"Residuals against predicted{drawn}", residuals),
        ("Distribution of residuals (actual - predicted)", spread),
    ]
