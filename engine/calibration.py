"""How far to trust a model's probabilities: reliability diagram, calibration error, entropy.

Guo, Pleiss, Sun and Weinberger, "On Calibration of Modern Neural Networks", ICML
2017, section 2: the test predictions are grouped by confidence (the top
probability) into M = 15 equal-width bins ``((m-1)/M, m/M]``; a calibrated model's
accuracy in each bin equals its mean confidence there, and the expected calibration
error is the gap weighted by the bins' sizes, ``ECE = sum_m |B_m|/n |acc(B_m) -
conf(B_m)|``. The reliability diagram draws the bins' accuracy against the diagonal.

The predictive entropy ``H(p) = -sum_k p_k log p_k`` (in nats, at most log K for K
classes) of the averaged softmax is the uncertainty that Monte Carlo dropout gives
(the lectures: "if the predictions agree across many different dropout masks, then
we might say that the network is more confident"; Gal and Ghahramani 2016): it
should be low on the right predictions and high on the wrong ones.
"""

from __future__ import annotations

import math

import numpy as np

BINS = 15  # Guo et al. 2017
EPSILON = 1e-12  # 0 log 0 = 0


def calibration(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> dict:
    """The reliability bins (``low``, ``high``, ``count``, ``confidence``, ``accuracy``;
    the last two None for an empty bin), ``expected_calibration_error``, the mean
    confidence and accuracy, and the mean predictive entropy of the right and of the
    wrong predictions (None where there are none) with its maximum, ``log K``."""
    confidence = probabilities.max(axis=-1)
    correct = np.argmax(probabilities, axis=-1) == labels
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    rows, error = [], 0.0
    for index in range(bins):
        members = which == index
        count = int(members.sum())
        row = {"low": index / bins, "high": (index + 1) / bins, "count": count,
               "confidence": None, "accuracy": None}
        if count:
            row["confidence"] = float(confidence[members].mean())
            row["accuracy"] = float(correct[members].mean())
            error += count / len(labels) * abs(row["accuracy"] - row["confidence"])
        rows.append(row)
    entropy = predictive_entropy(probabilities)
    return {"bins": rows, "expected_calibration_error": float(error),
            "mean_confidence": float(confidence.mean()), "accuracy": float(correct.mean()),
            "mean_entropy_correct": _mean(entropy[correct]),
            "mean_entropy_wrong": _mean(entropy[~correct]),
            "max_entropy": math.log(probabilities.shape[-1])}


def predictive_entropy(probabilities: np.ndarray) -> np.ndarray:
    """``-sum_k p_k log p_k`` of each row, in nats."""
    return -np.sum(probabilities * np.log(np.maximum(probabilities, EPSILON)), axis=-1)


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def plot_reliability(result: dict, path: str, title: str) -> str:
    """Draws :func:`calibration`'s ``result`` as a reliability diagram over a histogram
    of the confidences (Guo et al. 2017, Figure 1) into the PNG ``path``; returns it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from engine.figure_text import drawable

    bins = result["bins"]
    width = bins[0]["high"] - bins[0]["low"]
    lefts = [row["low"] for row in bins]
    accuracy = [row["accuracy"] or 0.0 for row in bins]
    confidence = [row["confidence"] if row["count"] else row["low"] + width / 2 for row in bins]
    figure = Figure(figsize=(4.2, 5.0), layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    top.bar(lefts, accuracy, width=width, align="edge", color="tab:blue", edgecolor="black",
            linewidth=0.5, label="accuracy")
    gaps = [(low, min(acc, conf), abs(conf - acc)) for low, acc, conf, row
            in zip(lefts, accuracy, confidence, bins) if row["count"]]
    top.bar([gap[0] for gap in gaps], [gap[2] for gap in gaps], bottom=[gap[1] for gap in gaps],
            width=width, align="edge", facecolor="none", edgecolor="tab:red", hatch="////",
            linewidth=0.8, label="gap to the mean confidence")
    top.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="perfectly calibrated")
    total = sum(row["count"] for row in bins)
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy in the bin",
            title=f"{drawable(title)}\nECE {result['expected_calibration_error']:.2%} "
                  f"({len(bins)} bins, n={total})")
    top.title.set_fontsize(9)
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(lefts, [row["count"] / total for row in bins], width=width, align="edge",
               color="tab:grey", edgecolor="black", linewidth=0.5)
    bottom.axvline(result["accuracy"], color="tab:blue", linewidth=1.5, label="accuracy")
    bottom.axvline(result["mean_confidence"], color="tab:red", linestyle="--", linewidth=1.5,
                   label="mean confidence")
    bottom.set(xlabel="confidence (top probability)", ylabel="share")
    bottom.legend(loc="upper left", fontsize=7)
    figure.savefig(path, dpi=80)
    return path
