"""Every recipe declares its classifier head: freezing all but the head leaves
exactly the head's weights trainable, and some."""

import keras
import pytest

import recipes
from engine import transfer
from layers import UsageError

# Small inputs the architectures still fit (the head does not depend on the size).
SIDES = (32, 64, 67, 224)


def built_small(name):
    recipe = recipes.get(name)
    height, _, channels = recipe.input_shape
    for side in (side for side in SIDES if side <= height):
        try:
            return recipes.build(name, input_shape=(side, side, channels))
        except UsageError:
            continue
    return recipes.build(name)


# ResNet-1202 has ResNet-110's builder and head, and takes 30 s to build: left to test_resnet.
@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in recipes.names() if name != "resnet1202"])
def test_feature_extractor_trains_exactly_the_recipes_head(name):
    head = recipes.get(name).head
    model = built_small(name)
    assert all(model.get_layer(layer) for layer in head)
    # what copying from a trained network of the same recipe and input fills
    transfer.freeze(model, [layer for layer in model.layers
                            if layer.weights and layer.name not in head])
    trainable = {weight.path for weight in model.trainable_weights}
    expected = {weight.path for layer in head
                for weight in model.get_layer(layer).trainable_weights}
    assert trainable == expected and trainable, (name, sorted(trainable))
    keras.backend.clear_session()


def test_init_from_copies_everything_but_the_head():
    keras.utils.set_random_seed(0)
    source = recipes.build("nin", classes=10)
    target = recipes.build("nin", classes=4)
    copied = transfer.copy_pretrained_weights(source, target, recipes.get("nin").head)
    assert "cccp6" not in {layer.name for layer in copied}
    assert {layer.name for layer in copied} == {
        layer.name for layer in target.layers if layer.weights and layer.name != "cccp6"}
