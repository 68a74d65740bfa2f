"""Evaluation reports on disk: one PNG per diagnostic plot and an HTML page that shows them."""

import html
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from data_product_runtime.core.dataset import Dataset
from data_product_runtime.core.model import Model

_STYLE = (
    "body { font-family: sans-serif; margin: 2em }"
    " table { border-collapse: collapse } td, th { border: 1px solid #ccc; padding: .3em .6em }"
    " figure { display: inline-block; margin: .5em } img { max-width: 420px }"
)


@dataclass(frozen=True)
class ModelEvaluation:
    """One model's metrics on the evaluation data, and where its plots were written."""

    role: str
    version: str
    metrics: dict[str, float]
    plots: dict[str, Path]


def write_plots(model: Model, test: Dataset, folder: Path) -> dict[str, Path]:
    """Diagnostic plots of a model on held-out data, as PNG files in folder."""
    mpl.use("Agg")  # files only: no display, no GUI toolkit
    folder.mkdir(parents=True, exist_ok=True)
    return _PLOTS[model.problem.name](model, test, folder)


def _classification_plots(model: Model, test: Dataset, folder: Path) -> dict[str, Path]:
    from sklearn.calibration import CalibrationDisplay  # noqa: PLC0415
    from sklearn.metrics import (  # noqa: PLC0415
        ConfusionMatrixDisplay,
        PrecisionRecallDisplay,
        RocCurveDisplay,
    )

    plots: dict[str, Path] = {}
    probabilities = model.outputs(test.features)
    classes = np.asarray(model.metadata.classes or ())
    predicted = classes[probabilities.argmax(axis=1)]
    plots["confusion matrix"] = _save(
        ConfusionMatrixDisplay.from_predictions(test.target, predicted, labels=classes).figure_,
        folder / "confusion-matrix.png",
    )
    if len(classes) == 2:  # noqa: PLR2004
        # Curves of the positive class, named by its label in the plots.
        positive, score = classes[1], probabilities[:, 1]
        curves = {
            "ROC curve": RocCurveDisplay.from_predictions(test.target, score, pos_label=positive),
            "precision-recall curve": PrecisionRecallDisplay.from_predictions(
                test.target, score, pos_label=positive
            ),
            "calibration": CalibrationDisplay.from_predictions(
                test.target, score, n_bins=10, pos_label=positive
            ),
        }
        for title, display in curves.items():
            plots[title] = _save(display.figure_, folder / f"{title.split()[0].lower()}.png")
    return plots


def _regression_plots(model: Model, test: Dataset, folder: Path) -> dict[str, Path]:
    from sklearn.metrics import PredictionErrorDisplay  # noqa: PLC0415

    plots: dict[str, Path] = {}
    predicted = model.outputs(test.features)
    for kind, title in [
        ("residual_vs_predicted", "residuals"),
        ("actual_vs_predicted", "predicted vs actual"),
    ]:
        display = PredictionErrorDisplay.from_predictions(test.target, predicted, kind=kind)
        plots[title] = _save(display.figure_, folder / f"{kind.replace('_', '-')}.png")
    return plots


# The diagnostic plots of each problem type.
_PLOTS = {"classification": _classification_plots, "regression": _regression_plots}


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path


def write_html(
    evaluations: list[ModelEvaluation], verdict: str, data_note: str, path: Path
) -> Path:
    """One page: the metrics side by side, then each model's plots."""
    metric_names = list(evaluations[0].metrics)
    header = "".join(
        f"<th>{html.escape(e.role)}<br><code>{html.escape(e.version)}</code></th>"
        for e in evaluations
    )
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{e.metrics.get(name, float('nan')):.4f}</td>" for e in evaluations)
        + "</tr>"
        for name in metric_names
    )
    figures = "".join(
        f"<h2>{html.escape(e.role)} ({html.escape(e.version)})</h2>"
        + "".join(
            f'<figure><img src="{html.escape(str(plot.relative_to(path.parent)))}" '
            f'alt="{html.escape(title)}"><figcaption>{html.escape(title)}</figcaption></figure>'
            for title, plot in e.plots.items()
        )
        for e in evaluations
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model evaluation</title>
<style>{_STYLE}</style></head>
<body><h1>Model evaluation</h1><p><strong>{html.escape(verdict)}</strong></p>
<p>{html.escape(data_note)}</p>
<table><tr><th>metric</th>{header}</tr>{rows}</table>{figures}</body></html>
"""
    path.write_text(page)
    return path
