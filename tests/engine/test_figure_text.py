"""Text from users' folders drawn in figures as it is, or escaped where it cannot be."""

import os
import warnings

import numpy as np

from engine import figure_text
from engine.calibration import calibration, plot_reliability
from engine.figure_text import drawable
from engine.report import plot_curves


def test_mathtext_signs_and_stray_bytes_are_escaped_and_the_rest_kept():
    assert drawable("$5-$10") == r"\$5-\$10"
    assert drawable(os.fsdecode(b"folder:/data/caf\xe9")) == "folder:/data/caf\\xe9"
    assert drawable("zéro один\nline") == "zéro один\nline"  # DejaVu Sans, matplotlib's own


def test_characters_no_font_holds_are_written_as_escapes():
    missing = next(code for code in (0x4E8C, 0x1F600, 0x10FFFD)
                   if code not in figure_text._glyphs())
    escape = f"\\u{missing:04x}" if missing <= 0xFFFF else f"\\U{missing:08x}"
    assert drawable(f"{chr(missing)} two") == f"{escape} two"


def test_figures_titled_with_a_folder_that_is_not_utf8_or_any_script_are_drawn_quietly(
        tmp_path):
    # A run on folder:/tmp/nonutf8_\xe9 trained, then --mode=evaluate failed in matplotlib
    # (TypeError) and lost its evaluation; a CJK class name drew boxes, warning per glyph.
    dataset = os.fsdecode(b"folder:/tmp/nonutf8_\xe9")
    title = f"lenet5_modern on {dataset} \u4e8c"
    probabilities = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]], np.float32)
    result = calibration(probabilities, np.array([0, 1, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert os.path.getsize(plot_reliability(result, str(tmp_path / "r.png"), title)) > 0
        plot_curves({"epoch": [0, 1], "loss": [1.0, 0.5], "accuracy": [0.5, 0.8]},
                    str(tmp_path / "c.png"), title)
    assert os.path.getsize(tmp_path / "c.png") > 0
