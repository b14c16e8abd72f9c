"""The deep convolutional network on MNIST (2012 onwards; seed 000's TFLearn example).

Seed 000 closes the history with TFLearn's MNIST convnet: two 3x3 convolutions (32 and 64
filters, ReLU, L2 penalty), each followed by a 2x2 max-pool and local response normalisation,
then fully connected layers of 128 and 256 tanh units with dropout (keep 0.8) and a 10-way
softmax, trained with Adam (learning rate 0.01) on categorical cross-entropy for 20 epochs.
Every piece descends from an earlier chapter: ReLU from the Heaviside step, cross-entropy from
Legendre's squares, Adam from Debye's descent, dropout and L2 from Tikhonov's regularisation.

The layers (with their hand-derived gradients) are :mod:`jaxdl.nn`, the network is
:mod:`jaxdl.models.deep_cnn`, and the training loop is :mod:`jaxdl.training`. This chapter's
``run`` trains the network on the embedded sample of real MNIST digits (7200 for training, 800
held out for validation, 2000 test digits) for two epochs, the tour's share of its budget, and
reports the test accuracy of the best epoch. Its :class:`Config` is the training
:class:`~jaxdl.training.recipe.Recipe` with the tour's defaults, so ``jaxdl run deep-cnn`` takes
the same options as ``jaxdl train``.

Why the default learning rate is not the seed's: Adam at 0.01 oscillates (its validation
accuracy jumps by several points from epoch to epoch), while Adam at 0.001 climbs steadily;
``jaxdl train deep-cnn --preset tflearn`` runs the seed's recipe for comparison. The docs chapter
and the closing notes of the project record the measured comparison with its command.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.gradcheck import GradCheck
from jaxdl.milestones import Milestone
from jaxdl.report import Report
from jaxdl.training.recipe import Recipe
from jaxdl.validate import EPOCHS

MILESTONE = Milestone(
    "deep-cnn",
    2012,
    "Krizhevsky et al.; TFLearn",
    "convolutional net on MNIST",
)


@dataclasses.dataclass(frozen=True)
class Config(Recipe):
    """A short run on the embedded MNIST sample: the training :class:`Recipe` with the tour's
    defaults (2 epochs, constant learning rate) and a data source."""

    epochs: int = dataclasses.field(
        default=2, metadata={"bounds": EPOCHS, "help": "passes over the training set"}
    )
    schedule: Literal["constant", "cosine"] = dataclasses.field(
        default="constant",
        metadata={
            "help": "learning rate over the run; the cosine decay that jaxdl train uses on the "
            "full set decays too early in a 2-epoch run"
        },
    )
    data: str = dataclasses.field(
        default="sample", metadata={"help": "sample, download, or a directory of IDX files"}
    )


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """The whole network: ``jax.grad`` of the loss built from the hand rules vs ``jax.grad`` of
    the loss built from the pure forwards vs finite differences (float64, two images, dropout
    on). Each op's own checks are in its :mod:`jaxdl.nn` module."""
    from jaxdl.gradcheck import check_gradient
    from jaxdl.models import deep_cnn

    k_params, k_images, k_dropout = jax.random.split(key, 3)
    dtype = jnp.result_type(float)
    params = deep_cnn.init_params(k_params, dtype=dtype)
    params = jax.tree.map(lambda p: p + 0.05, params)  # nonzero biases: every path matters
    images = jax.random.uniform(k_images, (2, 28, 28, 1), dtype)
    labels = jnp.array([3, 7])

    def loss(backward: str):
        return lambda p: deep_cnn.loss(
            p, images, labels, key=k_dropout, train=True, backward=backward
        )

    whole = check_gradient(
        "deep_cnn: whole network, custom_vjp layers",
        loss("autodiff"),
        jax.jit(jax.grad(loss("hand"))),
        params,
    )
    return [whole]


def run(config: Config = Config()) -> Report:
    """Train the deep CNN with ``config``; the result holds test accuracy, history and speed."""
    from jaxdl.models import deep_cnn
    from jaxdl.training.mnist import count_parameters, train_mnist

    trained = train_mnist("deep-cnn", config.recipe(), data=config.data)
    params = trained.fit.best_params
    digit = jnp.zeros((1, 28, 28, 1), jnp.float32)
    outputs = jax.eval_shape(deep_cnn.layer_outputs, params, digit)  # shapes only, no compile
    shapes = {name: list(a.shape[1:]) for name, a in outputs.items()}
    result = trained.result() | {
        "parameters": count_parameters(params),
        "layer_output_shapes": shapes,
    }
    history = trained.fit.history
    return Report(
        milestone="deep-cnn",
        config=config,
        result=result,
        checks=[],
        headline=(
            f"test accuracy {trained.test_accuracy:.2%} on {trained.sizes['test']} sample digits "
            f"after {len(history)} epochs ({trained.fit.images_per_second:.0f} images/s)"
        ),
        plot_data={"history": history, "params": params},
    )


def plot(report: Report):
    """Learning curves: training and validation loss and accuracy per epoch."""
    from matplotlib.ticker import MaxNLocator

    from jaxdl.plotting import new_figure

    history = report.result["epochs"]
    epochs = np.array([r["epoch"] for r in history])
    fig, (ax_loss, ax_acc) = new_figure(2)
    ax_loss.plot(epochs, [r["loss"] for r in history], "o-", label="training (dropout on)")
    ax_loss.plot(epochs, [r["val_loss"] for r in history], "s-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.plot(epochs, [r["accuracy"] for r in history], "o-", label="training")
    ax_acc.plot(epochs, [r["val_accuracy"] for r in history], "s-", label="validation")
    ax_acc.axhline(report.result["test_accuracy"], ls=":", color="k", label="test (best epoch)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_xlim(epochs[0] - 0.25, epochs[-1] + 0.25)
        ax.legend()
    return fig
