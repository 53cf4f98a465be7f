"""Reliability bins, expected calibration error and predictive entropy, by hand."""

import math

import numpy as np
import pytest

from engine.calibration import BINS, calibration, plot_reliability, predictive_entropy


def binary(confidence_of_class_0):
    return np.array([[p, 1 - p] for p in confidence_of_class_0])


def entropy(*p):
    return -sum(value * math.log(value) for value in p)


def test_expected_calibration_error_by_hand():
    # Confidences 0.9 (right), 0.9 (wrong), 0.7 (right), 0.55 (right) fall in the bins
    # (13/15, 14/15], (10/15, 11/15] and (8/15, 9/15] of Guo et al.'s 15:
    # ECE = 2/4 |0.5 - 0.9| + 1/4 |1 - 0.7| + 1/4 |1 - 0.55| = 0.3875.
    probabilities = binary([0.9, 0.9, 0.3, 0.55])
    labels = np.array([0, 1, 1, 0])
    result = calibration(probabilities, labels)
    assert BINS == 15 and len(result["bins"]) == 15
    assert result["expected_calibration_error"] == pytest.approx(0.3875)
    filled = {index: row for index, row in enumerate(result["bins"]) if row["count"]}
    assert sorted(filled) == [8, 10, 13]
    assert filled[13] == {"low": 13 / 15, "high": 14 / 15, "count": 2,
                          "confidence": pytest.approx(0.9), "accuracy": 0.5}
    assert result["bins"][0]["accuracy"] is None and result["bins"][0]["confidence"] is None
    assert result["accuracy"] == 0.75 and result["mean_confidence"] == pytest.approx(0.7625)
    assert result["mean_entropy_correct"] == pytest.approx(
        (entropy(0.9, 0.1) + entropy(0.7, 0.3) + entropy(0.55, 0.45)) / 3)
    assert result["mean_entropy_wrong"] == pytest.approx(entropy(0.9, 0.1))
    assert result["max_entropy"] == pytest.approx(math.log(2))


def test_a_confidence_on_a_bin_edge_falls_in_the_bin_it_closes():
    # Guo et al.'s bins ((m-1)/M, m/M] are closed on the right: 0.6 = 9/15 is bin 9 of 15
    # (index 8, up to 0.6), not the next; 0.5 of 10 bins lies in (0.4, 0.5].
    for confidence, bins, index in ((0.6, 15, 8), (0.5, 10, 4), (1.0, 15, 14)):
        result = calibration(binary([confidence]), np.array([0]), bins=bins)
        filled = [m for m, row in enumerate(result["bins"]) if row["count"]]
        assert filled == [index], (confidence, bins)
        assert result["bins"][index]["high"] == pytest.approx(confidence)


def test_a_calibrated_model_has_no_calibration_error():
    # In each bin exactly the confidence's share of predictions is right.
    confidences, labels = [], []
    for confidence, right in ((0.6, 3), (0.8, 4), (1.0, 5)):
        total = round(right / confidence)
        confidences += [confidence] * total
        labels += [0] * right + [1] * (total - right)
    result = calibration(binary(confidences), np.array(labels))
    assert result["expected_calibration_error"] == pytest.approx(0.0, abs=1e-12)
    assert result["bins"][-1]["count"] == 5  # a confidence of exactly 1 is in the last bin
    assert result["mean_entropy_wrong"] is not None


def test_predictive_entropy_is_zero_when_sure_and_log_k_when_uniform():
    values = predictive_entropy(np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]))
    np.testing.assert_allclose(values, [0.0, math.log(3)], atol=1e-9)
    assert calibration(np.eye(3), np.arange(3))["mean_entropy_wrong"] is None


def test_the_reliability_diagram_is_a_png(tmp_path):
    result = calibration(binary([0.9, 0.9, 0.3, 0.55]), np.array([0, 1, 1, 0]))
    path = plot_reliability(result, str(tmp_path / "reliability.png"), "by hand")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
