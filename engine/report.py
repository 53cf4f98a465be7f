"""What a run leaves for a person: report.json (written atomically) and curves.png."""

from __future__ import annotations

import csv
import json
import os
import tempfile


def write_json(path: str, data: dict) -> None:
    """Writes ``data`` to ``path`` through a temporary file, so readers never see half of it."""
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".tmp", delete=False) as file:
        json.dump(data, file, indent=2, sort_keys=True)
        file.write("\n")
    os.replace(file.name, path)


def read_history(path: str) -> dict[str, list[float]]:
    """The per-epoch columns of Keras's CSVLogger file (all epochs, resumed runs included)."""
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    return {key: [float(row[key]) for row in rows if row.get(key) not in (None, "")]
            for key in (rows[0].keys() if rows else ())}


def plot_curves(history: dict[str, list[float]], path: str, title: str = "",
                accuracy: str = "accuracy") -> None:
    """Training and validation loss and accuracy (logged as ``accuracy``) per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    epochs = [int(epoch) + 1 for epoch in history.get("epoch", [])]
    figure, axes = pyplot.subplots(1, 2, figsize=(10, 4))
    for axis, metric in zip(axes, ("loss", accuracy)):
        for prefix, label in (("", "training"), ("val_", "validation")):
            values = history.get(prefix + metric)
            if values:
                axis.plot(epochs[:len(values)], values, marker=".", label=label)
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
