"""Fixtures of the input-pipeline tests: the original MNIST archives in ../shared."""

from __future__ import annotations

import pathlib

import pytest

SHARED_MNIST_ARCHIVES = (pathlib.Path(__file__).resolve().parents[3].parent
                         / "shared" / "datasets" / "mnist")


@pytest.fixture
def mnist_archives():
    """The four original MNIST archives in ../shared/datasets/mnist; skips where missing."""
    if not SHARED_MNIST_ARCHIVES.is_dir():
        pytest.skip(f"MNIST archives not found at {SHARED_MNIST_ARCHIVES} (see shared/README.md)")
    return SHARED_MNIST_ARCHIVES
