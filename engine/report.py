"""report.json: what a run did and how well, written atomically."""

from __future__ import annotations

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
