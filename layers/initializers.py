"""Initializers given once for several layers: each layer gets its own copy.

Keras 3 fixes an unseeded initializer's seed when the initializer is made, so one
instance shared by several layers starts them all from the same numbers (layers of one
shape get equal weights). A name or a config makes a new instance per layer already;
an instance does not. A seeded instance (``seed=0``) is copied with its seed, so its
copies draw the same numbers, as Keras's own seeded initializers do: give layers that
must start apart a name or an unseeded instance.
"""

from __future__ import annotations

import keras


def fresh(initializer):
    """A new initializer made as ``initializer`` (a name, a config or an instance) is,
    for one layer; a plain function is returned as it is."""
    initializer = keras.initializers.get(initializer)
    if not isinstance(initializer, keras.initializers.Initializer):
        return initializer
    return type(initializer).from_config(initializer.get_config())


def per_layer(layer_kwargs: dict) -> dict:
    """``layer_kwargs`` with a :func:`fresh` copy of each initializer (``*_initializer``),
    for a helper that gives the same arguments to several layers."""
    return {key: fresh(value) if key.endswith("_initializer") else value
            for key, value in layer_kwargs.items()}
