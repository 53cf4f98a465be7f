"""setup.cfg against the code and README: every package the code imports is a declared
requirement, every requirement is imported (or needed at run time for a named reason),
and README states the version floors setup.cfg declares."""

import ast
import configparser
import importlib.metadata
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("layers", "recipes", "engine")
OPTIONAL = {"ai_edge_litert"}  # engine/serving/tflite.py falls back to tf.lite without it
# Required without an import of their own in the code.
RUN_TIME_ONLY = {"importlib-resources": "tensorflow-datasets opens a prepared dataset through "
                                        "etils, which imports it and is not made to install it"}
# The floors are the oldest releases run with this package (2026-12-06: TensorFlow 2.20.0,
# Keras 3.10.0 and keras-tuner 1.4.6: a one-epoch run, a two-trial search, the serving,
# tuning and private API tests). Keras 3.9 and older fail in training or export (np.Inf with
# NumPy 2, ExportArchive.write_out's verbose, an untracked lookup table); keras-tuner 1.4.5
# and older lack keras_tuner.src or need keras_core.
README_NAMES = {"tensorflow": "TensorFlow", "keras": "Keras", "keras-tuner": "keras-tuner"}


def requirements() -> dict[str, str]:
    """``{distribution: its version specifier}`` of setup.cfg's install_requires."""
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    lines = setup["options"]["install_requires"].split()
    return dict(re.fullmatch(r"([A-Za-z0-9_.-]+)(.*)", line).groups() for line in lines)


def imported_top_level_modules() -> set[str]:
    files = [file for package in PACKAGES for file in (ROOT / package).rglob("*.py")]
    names = set()
    for file in [*files, ROOT / "train.py"]:
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return {name for name in names
            if name not in sys.stdlib_module_names and name not in {*PACKAGES, "train"}}


def normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def test_every_imported_package_is_a_requirement_and_every_requirement_is_used():
    distributions = importlib.metadata.packages_distributions()
    imported = imported_top_level_modules() - OPTIONAL
    unknown = {name for name in imported if name not in distributions}
    assert not unknown, f"imported but not installed: {unknown}"
    declared = {normalized(name) for name in requirements()}
    # A module may come from several distributions (tensorflow or tensorflow-cpu, ...).
    providers = {name: {normalized(distribution) for distribution in distributions[name]}
                 for name in imported}
    undeclared = {name for name, provided in providers.items() if not provided & declared}
    assert not undeclared, "imported but not in install_requires"
    used = set().union(*providers.values())
    assert declared - used <= set(RUN_TIME_ONLY), "in install_requires but never imported"
    assert set(RUN_TIME_ONLY) <= declared


def test_readme_states_the_version_floors():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    declared = {normalized(name): specifier for name, specifier in requirements().items()}
    readme = (ROOT / "README.md").read_text()
    assert f"Python {setup['options']['python_requires']}" in readme
    for distribution, name in README_NAMES.items():
        assert declared[distribution].startswith(">=")
        assert f"{name} {declared[distribution]}" in readme

