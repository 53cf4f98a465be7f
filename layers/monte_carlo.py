"""Dropout at test time: Monte Carlo dropout.

The lectures (after Srivastava et al. 2014 and D2L 5.6): "Some researchers use dropout
at test time as a heuristic for estimating the uncertainty of neural network
predictions: if the predictions agree across many different dropout masks, then we
might say that the network is more confident." Gal and Ghahramani, "Dropout as a
Bayesian Approximation", ICML 2016, average the softmax of T such stochastic passes.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="convnet_recipes")
class MonteCarloDropout(keras.layers.Dropout):
    """A ``keras.layers.Dropout`` that drops (and rescales by ``1 / (1 - rate)``) at
    inference too, whatever ``training`` says; same arguments and weights (none)."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


def with_dropout_at_test_time(model: keras.Model) -> keras.Model:
    """``model`` (the same layers and weights) with every ``keras.layers.Dropout`` (the
    plain kind, not spatial or Gaussian dropout) a :class:`MonteCarloDropout` of the same
    rate; nested functional models included."""

    def clone(layer):
        if type(layer) is keras.layers.Dropout:
            return MonteCarloDropout.from_config(layer.get_config())
        return layer

    return keras.models.clone_model(model, clone_function=clone, recursive=True)
