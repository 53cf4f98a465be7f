"""Each list of choices is defined once (engine.choices) and every table that
implements one has exactly its names; the house's arrows point down."""

import ast
import dataclasses
import pathlib

import pytest

import recipes
from engine import choices, optimizers, schedules, spec
from engine.data.augment import PRESETS
from engine.data.preprocessing import ARRAYS
from engine.data.tta import VIEWS
from engine.initialization import INITIALIZER_CONFIGS
from recipes import TrainingConfig

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_tables_implement_exactly_the_listed_choices():
    assert tuple(PRESETS) == choices.AUGMENTATIONS
    assert tuple(ARRAYS) == choices.NORMALIZATIONS
    assert tuple(VIEWS) == choices.TTA_MODES
    assert tuple(INITIALIZER_CONFIGS) == choices.INITIALIZATIONS
    for optimizer in choices.OPTIMIZERS:
        assert optimizers.make_optimizer(TrainingConfig(optimizer=optimizer)) is not None
    for schedule in choices.SCHEDULES:  # an unhandled one would have trained at one rate
        config = TrainingConfig(schedule=schedule, decay_epochs=(1,), decay_every=1)
        assert schedules.rate_after_warmup(config, 2) > 0
    with pytest.raises(ValueError, match="No learning rate is defined for schedule 'cyclic'"):
        schedules.rate_after_warmup(dataclasses.replace(config, schedule="cyclic"), 2)
    for mode in choices.MODES:
        assert (ROOT / "engine" / "modes" / f"{mode}.py").is_file(), mode


@pytest.mark.parametrize("name", recipes.names())
def test_every_recipes_training_configuration_is_valid(name):
    config = recipes.get(name).training
    spec.resolve(name, config, model_dir="unused")  # raises on an unknown name


@pytest.mark.parametrize("multiplier", [-1.0, float("nan"), float("inf"), "0.1"])
def test_a_finetune_multiplier_that_is_no_rate_multiplier_is_refused(multiplier):
    # The flag refused them; a spec built in Python trained by gradient ascent (-1) or
    # saved and exported a network of NaN weights as a success (nan).
    from layers import UsageError

    with pytest.raises(UsageError, match=r"^finetune_multiplier=.* is no learning-rate "
                                         r"multiplier; give a finite number of 0 or more"):
        spec.resolve("mlp", TrainingConfig(), model_dir="unused", init_from="runs/a",
                     finetune_multiplier=multiplier)
    spec.resolve("mlp", TrainingConfig(), model_dir="unused", finetune_multiplier=0)


def test_an_unknown_plateau_monitor_is_refused():
    from layers import UsageError

    with pytest.raises(UsageError, match="Unknown plateau monitor 'test'; accepted: validation"):
        spec.resolve("mlp", TrainingConfig(plateau_monitor="test"), model_dir="unused")


def test_flags_take_their_enums_from_the_choices():
    from absl import flags

    import engine.cli  # noqa: F401  (defines the flags)

    for flag, accepted in (("mode", choices.MODES), ("optimizer", choices.OPTIMIZERS),
                           ("schedule", choices.SCHEDULES), ("augment", choices.AUGMENTATIONS),
                           ("normalization", choices.NORMALIZATIONS),
                           ("tta", choices.TTA_MODES), ("precision", choices.PRECISIONS),
                           ("distribute", choices.DISTRIBUTE_MODES),
                           ("transfer", choices.TRANSFER_MODES),
                           ("output", choices.OUTPUT_FORMATS)):
        assert tuple(flags.FLAGS[flag].parser.enum_values) == accepted


def imports(path: pathlib.Path) -> set[str]:
    """The modules ``path`` imports, wherever in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_input_pipeline_does_not_import_the_recipes():
    for path in (ROOT / "engine" / "data").glob("*.py"):
        assert not {name for name in imports(path) if name.split(".")[0] == "recipes"}, path


def test_engine_data_has_no_import_cycle():
    package = ROOT / "engine" / "data"
    graph = {f"engine.data.{path.stem}": {name for name in imports(path)
                                          if name.startswith("engine.data.")}
             for path in package.glob("*.py") if path.stem != "__init__"}

    def reaches(start, target, seen=()):
        return any(module == target or (module not in seen and module in graph
                                        and reaches(module, target, (*seen, module)))
                   for module in graph.get(start, ()))

    assert not [module for module in graph if reaches(module, module)]


def test_layers_and_recipes_import_no_tensorflow_and_no_engine():
    for package in ("layers", "recipes"):
        for path in (ROOT / package).glob("*.py"):
            roots = {name.split(".")[0] for name in imports(path)}
            assert not roots & {"tensorflow", "engine"}, path


def test_command_line_parses_without_loading_tensorflow():
    import subprocess
    import sys

    code = ("import sys; import engine.cli; from absl import flags; flags.FLAGS(['x']); "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.split() == ["False", "False"], result.stderr[-2000:]
