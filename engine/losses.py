"""Cross-entropy on integer labels with label smoothing, which Keras offers only
for one-hot labels."""

from __future__ import annotations

import keras

from layers.errors import UsageError


@keras.saving.register_keras_serializable(package="convnet_recipes")
class SmoothedSparseCategoricalCrossentropy(keras.losses.Loss):
    """``CategoricalCrossentropy(label_smoothing=s)`` on one-hot encoded integer labels.

    Szegedy et al., "Rethinking the Inception Architecture", section 7: the target
    becomes ``(1 - s) * one_hot + s / classes``.
    """

    def __init__(self, label_smoothing: float = 0.1, name="smoothed_sparse_categorical_crossentropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise UsageError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        classes = keras.ops.shape(y_pred)[-1]
        one_hot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"),
                                    classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def classification_loss(label_smoothing: float) -> keras.losses.Loss:
    """Keras's sparse cross-entropy, or its smoothed form where smoothing is asked for."""
    if label_smoothing:
        return SmoothedSparseCategoricalCrossentropy(label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy()
