"""Classic convolutional networks as their papers describe them, by name.

    >>> import recipes
    >>> model = recipes.build("lenet5_modern")
    >>> recipes.get("lenet5_modern").training.optimizer
    'adam'
"""

from recipes.registry import Recipe, TrainingConfig, build, get, names, register
from recipes import lenet  # noqa: F401  (registers the LeNet recipes)
from recipes import alexnet, vgg, nin, alphago, baseline  # noqa: F401
from recipes import resnet, fractalnet  # noqa: F401
from recipes import googlenet  # noqa: F401
from recipes.summary import summarize

__all__ = ["Recipe", "TrainingConfig", "build", "get", "names", "register", "summarize"]
