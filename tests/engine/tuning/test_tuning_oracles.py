"""The searches' oracles (engine.tuning.tuner) start from the paper's configuration."""

import keras_tuner
import pytest

from engine.tuning import tuner
from engine.tuning.space import hyperparameters
from recipes.space import Choice, Float, Int, SearchSpace

# 3 rates x (one block, or two of growth 1 or 2): nine distinct trials.
SPACE = SearchSpace(architecture={"blocks": Int(1, 2, default=1),
                                  "growth": Choice((1, 2), default=2)},
                    training={"learning_rate": Choice((1e-3, 1e-2, 1e-1), default=1e-2)},
                    conditions={"growth": ("blocks", (2,))})
PAPER = {"blocks": 1, "learning_rate": 1e-2}


def proposals(oracle, tmp_path, trials: int) -> list[dict]:
    """The values of up to ``trials`` trials ``oracle`` proposes, each scored 0.5;
    keras-tuner's own entries (Hyperband's ``tuner/...``) left out."""
    hp = keras_tuner.HyperParameters()
    hyperparameters(hp, SPACE)
    oracle.hyperparameters = hp
    oracle._set_project_dir(str(tmp_path), "search")  # as a tuner sets it
    proposed = []
    while len(proposed) < trials and (trial := oracle.create_trial("tuner0")).status == "RUNNING":
        proposed.append({name: value for name, value in trial.hyperparameters.values.items()
                         if not name.startswith("tuner/")})
        oracle.update_trial(trial.trial_id, {"score": 0.5})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    return proposed


def test_a_random_search_starts_from_the_papers_point_and_never_draws_it_again(tmp_path):
    oracle = tuner.RandomOracle(objective=keras_tuner.Objective("score", "max"),
                                max_trials=20, seed=1)
    proposed = proposals(oracle, tmp_path, trials=20)
    assert proposed[0] == PAPER
    # No point twice, the paper's included. keras-tuner stops a random search after 20
    # draws in a row that hit points tried, so how many of the nine it reaches depends on
    # the seed (7 or 8 for seeds 1 to 8; a seed of 0 is none to keras-tuner: a random one).
    points = [tuple(sorted(values.items())) for values in proposed]
    assert len(set(points)) == len(points) >= 5 and PAPER not in proposed[1:]


@pytest.mark.parametrize("make", [
    lambda: tuner.BayesianOracle(objective=keras_tuner.Objective("score", "max"),
                                 max_trials=4, num_initial_points=2, seed=1),
    lambda: tuner.HyperbandOracle(objective=keras_tuner.Objective("score", "max"),
                                  max_epochs=3, factor=3, seed=1),
], ids=["bayesian", "hyperband"])
def test_bayesian_and_hyperband_searches_start_from_the_papers_point(make, tmp_path):
    proposed = proposals(make(), tmp_path, trials=3)
    assert proposed[0] == PAPER and PAPER not in proposed[1:3]


def test_nearby_seeds_draw_unrelated_points(tmp_path):
    # keras-tuner seeds its n-th draw with seed + n: --seed=43 replayed 42's draws one
    # value later (a learning rate over a range: 42 drew 1e-3, 0.0019, 0.000119, 0.000656;
    # 43 drew 1e-3, 0.000119, 0.000656, ...).
    space = SearchSpace(architecture={},
                        training={"learning_rate": Float(1e-4, 1e-2, log=True, default=1e-3)})

    def draws(seed):
        oracle = tuner.RandomOracle(objective=keras_tuner.Objective("score", "max"),
                                    max_trials=6, seed=tuner.oracle_seed(seed))
        hp = keras_tuner.HyperParameters()
        hyperparameters(hp, space)
        oracle.hyperparameters = hp
        oracle._set_project_dir(str(tmp_path / str(seed)), "search")
        values = []
        for _ in range(6):
            trial = oracle.create_trial("tuner0")
            values.append(trial.hyperparameters.values["learning_rate"])
            oracle.update_trial(trial.trial_id, {"score": 0.5})
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
        return values

    first, second = draws(42), draws(43)
    assert first[0] == second[0] == 1e-3  # the paper's point
    assert not set(first[1:]) & set(second[1:])
    assert draws(42) == first  # and a seed still repeats its search
    assert all(0 < tuner.oracle_seed(seed) < 2**32 for seed in (0, 1, 2**32 - 1))
