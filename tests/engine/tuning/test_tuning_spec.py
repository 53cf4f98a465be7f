"""engine.tuning.spec: the tune flags are checked once, before any work, each mistake one
sentence; flags given on the command line hold their entries of the space fixed."""

import pytest
from absl import flags

import engine.cli  # noqa: F401  (defines the flags)
from engine import cli
from engine.tuning import spec as search_spec
from layers.errors import UsageError


def arguments(*argv):
    """What train.py's modes receive for the command line ``argv``."""
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["train.py", *argv])
    try:
        return cli.arguments(flags.FLAGS)
    finally:
        flags.FLAGS.unparse_flags()


@pytest.mark.parametrize("argv, message", [
    (["--tuner=unknown"], "flag --tuner=unknown: value should be one of "
                          "<random|bayesian|hyperband>"),
    (["--objective=accuracy"], "flag --objective=accuracy: value should be one of "
                               "<val_accuracy|val_loss>"),
    (["--max_trials=0"], "flag --max_trials=0: 0 is not a positive integer"),
    (["--executions_per_trial=0"], "flag --executions_per_trial=0: 0 is not a positive integer"),
    (["--max_failed_trials=-2"], "flag --max_failed_trials=-2: -2 is not a positive integer"),
])
def test_bad_tune_flag_values_are_refused_by_the_parser(argv, message):
    """Before TensorFlow loads: absl checks the choices and the ranges."""
    flags.FLAGS.unparse_flags()
    try:
        with pytest.raises(flags.IllegalFlagValueError) as error:
            flags.FLAGS(["train.py", "--mode=tune", *argv])
    finally:
        flags.FLAGS.unparse_flags()
    assert str(error.value) == message


@pytest.mark.parametrize("argv, message", [
    (["--distribute=multi_worker"], "--distribute=multi_worker cannot run inside a search"),
    (["--recipe=lenet6"], "Unknown recipe 'lenet6'"),
    # lenet5_modern's search tries Adam and AdamW, neither of which reads a momentum.
    (["--momentum=0.5"], "--momentum applies to the momentum, nesterov, rmsprop optimizers, "
                         "and this search tries adam and adamw; leave it out or fix one of "
                         "those with --optimizer."),
    (["--optimizer=adam", "--momentum=0.5"], "--momentum applies to the momentum, nesterov, "
                                             "rmsprop optimizers, not --optimizer=adam"),
    # mlp's search varies momentum 0 and 0.9: half its trials were plain SGD, "nesterov".
    (["--recipe=mlp", "--optimizer=nesterov"], "--optimizer=nesterov at momentum 0 is plain SGD, "
     "and this search tries momentum 0 and 0.9; fix --momentum=0.9 too (or leave --optimizer "
     "out: the search tries Nesterov's where the momentum is not 0)."),
    (["--decay_every=3"], "--decay_every applies to the exponential schedule, not "
                          "--schedule=cosine"),
    (["--weight_decay=0", "--weight_decay_scope=all"], "--weight_decay_scope says what weight "
     "decay applies to, and this search has none (--weight_decay=0); leave it out or set "
     "--weight_decay."),
    (["--transfer=finetune"], "--transfer applies to a run that starts from --init_from"),
    (["--finetune_multiplier=0.5"], "--finetune_multiplier applies to a run that starts from "
                                    "--init_from"),
])
def test_bad_tune_flags_are_one_sentence(argv, message, tmp_path):
    with pytest.raises(UsageError) as error:
        search_spec.resolve(arguments("--mode=tune", f"--model_dir={tmp_path / 'run'}", *argv))
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()


def test_a_partial_cluster_environment_is_refused(monkeypatch):
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.delenv("KERASTUNER_ORACLE_PORT", raising=False)
    monkeypatch.delenv("KERASTUNER_TUNER_ID", raising=False)
    with pytest.raises(UsageError, match="KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_PORT not set"):
        search_spec.check_cluster()


def test_roles_follow_keras_tuners_variables(monkeypatch):
    for name in search_spec.CLUSTER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert search_spec.is_search_chief() and search_spec.tuner_id() == "tuner0"
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner1")
    assert search_spec.distributed() and not search_spec.is_search_chief()
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    assert search_spec.is_search_chief()


def test_flags_given_hold_their_entries_fixed(tmp_path):
    search = search_spec.resolve(arguments(
        "--mode=tune", "--batch_size=64", "--optimizer=adam", "--epochs=2",
        "--tuner=hyperband", "--max_trials=4", f"--model_dir={tmp_path}"))
    assert search.fixed == ("batch_size", "optimizer")
    assert search.fixed_values == {"batch_size": 64, "optimizer": "adam"}
    assert search.run.training.epochs == 2 and search.tuner == "hyperband"
    assert search.project_dir == str(tmp_path / "search")
    assert search.record() == {"tuner": "hyperband", "max_trials": 4,
                               "executions_per_trial": 1, "objective": "val_accuracy",
                               "max_failed_trials": 3, "fixed": ["batch_size", "optimizer"]}
    assert search.batch_sizes == (64, 64)


def test_the_trials_batch_sizes_span_the_searched_choice(tmp_path):
    search = search_spec.resolve(arguments("--mode=tune", f"--model_dir={tmp_path}"))
    assert search.space.training["batch_size"].values == (32, 64, 128)  # lenet5_modern's 64
    assert search.batch_sizes == (32, 128)


def test_the_tune_flags_name_their_choices():
    from engine import choices

    for name in choices.TUNERS:
        assert name in flags.FLAGS["tuner"].help
    for name in choices.OBJECTIVES:
        assert name in flags.FLAGS["objective"].help


def test_a_search_of_a_recipe_without_validation_holds_the_usual_share_out(tmp_path):
    # lenet5 trains on the whole training split (its paper's setting); a search scores
    # its trials on a validation split, so it holds 10% out, unless told 0 explicitly.
    search = search_spec.resolve(arguments("--mode=tune", "--recipe=lenet5",
                                           f"--model_dir={tmp_path / 'run'}"))
    assert search.run.training.validation_fraction == 0.1
    assert search.run.data.validation_fraction == 0.1
    with pytest.raises(UsageError, match="--validation_fraction=0 leaves none"):
        search_spec.resolve(arguments("--mode=tune", "--recipe=lenet5",
                                      "--validation_fraction=0",
                                      f"--model_dir={tmp_path / 'run'}"))


@pytest.mark.parametrize("argv", [
    ["--recipe=resnet20", "--momentum=0.5"],  # the momentum and Nesterov optimizers read it
    ["--optimizer=rmsprop", "--momentum=0.5"],
    ["--recipe=resnet20", "--decay_epochs=2,4"],
    ["--weight_decay_scope=all"],  # lenet5_modern's search tries decays besides its 0
])
def test_a_flag_some_searched_choice_reads_is_accepted(argv, tmp_path):
    search = search_spec.resolve(arguments("--mode=tune", f"--model_dir={tmp_path / 'run'}",
                                           *argv))
    assert search.run.recipe == ("resnet20" if "--recipe=resnet20" in argv else "lenet5_modern")


def test_init_from_holds_the_architecture_at_the_network_it_copies(tmp_path, train_digits):
    # Every trial that drew another width failed to copy a layer, and the search stopped
    # at --max_failed_trials, though no flag could hold the width.
    import recipes

    space = recipes.get("lenet5_modern").search_space
    searched = tmp_path / "searched"
    searched.mkdir()
    (searched / "run.json").write_text('{"recipe": "lenet5_modern"}')
    (searched / "report.json").write_text(
        '{"best_hyperparameters": {"width_multiplier": 0.5, "learning_rate": 0.01}}')
    for source in (searched, searched / "model.keras"):  # a folder, or its model file
        assert search_spec.source_architecture(str(source), space, "lenet5_modern") == {
            "batch_norm": False, "width_multiplier": 0.5}
    # Another recipe's search (vgg_shallow's net A) says nothing of this network.
    assert search_spec.source_architecture(str(searched), space, "lenet5") == {
        "batch_norm": False, "width_multiplier": 1.0}
    trained = train_digits(tmp_path / "trained", epochs=1)
    assert search_spec.source_architecture(str(trained / "model.keras"), space,
                                           "lenet5_modern") == {
        "batch_norm": False, "width_multiplier": 1.0}
    search = search_spec.resolve(arguments("--mode=tune", f"--init_from={trained}",
                                           f"--model_dir={tmp_path / 'search'}"))
    assert set(search.fixed) == {"batch_norm", "width_multiplier"}
    assert search.fixed_values == {"batch_norm": False, "width_multiplier": 1.0}
    assert search.record()["fixed"] == ["batch_norm", "width_multiplier"]


@pytest.mark.parametrize("optimizer, held", [("adam", True), ("sgd", True), ("momentum", False)])
def test_an_optimizer_held_by_its_flag_holds_a_momentum_it_does_not_read(optimizer, held,
                                                                          tmp_path):
    # mlp's search (the paper's SGD) varies momentum 0 and 0.9: under --optimizer=adam its
    # trials were the same runs twice, and the best one reported a momentum Adam ignored.
    search = search_spec.resolve(arguments("--mode=tune", "--recipe=mlp",
                                           f"--optimizer={optimizer}",
                                           f"--model_dir={tmp_path / 'run'}"))
    assert ("momentum" in search.fixed) is held
    assert "optimizer" in search.fixed
    # A search started before this rule, which varied momentum, resumes varying it.
    resumed = search.as_saved({"momentum": {"kind": "choice", "values": [0.0, 0.9]}})
    assert "momentum" not in resumed.fixed and "optimizer" in resumed.fixed
    assert search.as_saved({"momentum": {"kind": "fixed", "value": 0.0}}) == search
