"""The Keras-style tabular MLP (Chollet's Keras, 2015; seed 001's PIMA diabetes example).

Seed 001 shows the five steps every Keras tutorial follows: load a table, build a
``Sequential`` stack of ``Dense`` layers (12 ReLU, 8 ReLU, 1 sigmoid), compile it with binary
cross-entropy and Adam, fit it for 150 epochs in batches of 10, evaluate. This chapter runs
those steps with :class:`jaxdl.sequential.Sequential` on the real PIMA table the package ships
(the 532 complete records curated by Venables & Ripley for R's MASS, 7 features; see
``jaxdl/tables/PIMA.md``). The seed evaluates on its training data; here the model is judged
on MASS's held-out 332 test subjects, never seen in training, against the majority-class
baseline (always "not diabetic": 67.2%).

Features are standardised with the training rows' mean and standard deviation (a Keras
``Normalization`` layer does the same); ``--no-standardize`` feeds the raw values as the seed
does, which trains worse because glucose (~120) dwarfs the pedigree function (~0.5).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import tabular
from jaxdl.config import require_positive_float, require_positive_int
from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.report import Report
from jaxdl.sequential import Dense, Sequential, init_params, loss_and_grad, loss_value

#: Seed 001's network: Dense(12, relu) -> Dense(8, relu) -> Dense(1, sigmoid).
SEED_LAYERS = (Dense(12, "relu"), Dense(8, "relu"), Dense(1, "sigmoid"))


@dataclasses.dataclass(frozen=True)
class Config:
    """Seed 001's Keras run: 150 epochs, batches of 10, Adam at Keras' default rate."""

    epochs: int = dataclasses.field(default=150, metadata={"help": "passes over the training set"})
    batch_size: int = dataclasses.field(default=10, metadata={"help": "examples per step"})
    learning_rate: float = dataclasses.field(
        default=0.001, metadata={"help": "Adam step size", "flag": "--lr"}
    )
    standardize: bool = dataclasses.field(
        default=True, metadata={"help": "scale features by the training mean and std"}
    )
    seed: int = dataclasses.field(default=0, metadata={"help": "initialisation and shuffling"})

    def __post_init__(self):
        require_positive_int("epochs", self.epochs)
        require_positive_int("batch_size", self.batch_size)
        require_positive_float("learning rate", self.learning_rate)
        if self.batch_size > 200:
            raise ValueError(
                f"batch_size must be at most 200 (the PIMA training rows), got {self.batch_size}"
            )


def build_model(config: Config) -> Sequential:
    """Build and compile seed 001's model."""
    model = Sequential(SEED_LAYERS).build(
        len(tabular.PIMA_FEATURES), key=jax.random.key(config.seed)
    )
    return model.compile(optax.adam(config.learning_rate), "binary_crossentropy")


def run(config: Config = Config()) -> Report:
    """Load, build, compile, fit, evaluate: the seed's five steps, judged on held-out data."""
    train, test = tabular.pima("train"), tabular.pima("test")
    x_train, x_test = train.features, test.features
    if config.standardize:
        scale = tabular.fit_standardizer(x_train)
        x_train, x_test = scale(x_train), scale(x_test)
    model = build_model(config)
    history = model.fit(
        x_train,
        train.labels,
        epochs=config.epochs,
        batch_size=config.batch_size,
        key=jax.random.key(config.seed + 1),
        validation_data=(x_test, test.labels),
    )
    final_train = model.evaluate(x_train, train.labels)
    final_test = model.evaluate(x_test, test.labels)
    baseline = float(max(test.labels.mean(), 1 - test.labels.mean()))
    check = _check_at(model.params, x_train[:16], train.labels[:16], "at the trained weights")
    return Report(
        milestone="tabular-mlp",
        config=config,
        result={
            "data": "PIMA diabetes (MASS Pima.tr / Pima.te): 200 train, 332 held-out test rows",
            "train_accuracy": final_train["accuracy"],
            "test_accuracy": final_test["accuracy"],
            "test_loss": final_test["loss"],
            "majority_baseline": baseline,
            "first_epoch_loss": float(history.loss[0]),
            "last_epoch_loss": float(history.loss[-1]),
        },
        checks=[check],
        headline=(
            f"held-out accuracy {final_test['accuracy']:.3f} on 332 PIMA test rows "
            f"(majority baseline {baseline:.3f})"
        ),
        plot_data={"history": history},
    )


def _check_at(params, x, y, where: str) -> GradCheck:
    xj = jnp.asarray(x, jnp.result_type(float))
    yj = jnp.asarray(np.asarray(y)[:, None], xj.dtype)
    params = jax.tree.map(lambda p: jnp.asarray(p, xj.dtype), params)
    return check_gradient(
        f"tabular-mlp: Sequential hand backprop {where}",
        lambda p: loss_value(SEED_LAYERS, p, xj, yj, loss="binary_crossentropy"),
        lambda p: loss_and_grad(SEED_LAYERS, p, xj, yj, loss="binary_crossentropy")[1],
        params,
    )


def gradient_checks(*, key: jax.Array) -> list[GradCheck]:
    """The Sequential model's hand backpropagation (ReLU, sigmoid + BCE) vs autodiff, random point."""
    k_params, k_x, k_y = jax.random.split(key, 3)
    dtype = jnp.result_type(float)
    params = init_params(SEED_LAYERS, 7, key=k_params, dtype=dtype)
    x = jax.random.normal(k_x, (16, 7), dtype)
    y = jax.random.bernoulli(k_y, 0.4, (16,)).astype(dtype)
    return [_check_at(params, x, y, "at a random point")]


def plot(report: Report):
    """Loss and accuracy per epoch, on the training batches and the held-out test rows."""
    from jaxdl.plotting import new_figure

    h = report.plot_data["history"]
    epochs = np.arange(1, len(h.loss) + 1)
    fig, (ax_loss, ax_acc) = new_figure(2)
    ax_loss.plot(epochs, h.loss, label="train (mini-batches)")
    ax_loss.plot(epochs, h.val_loss, label="held-out test")
    ax_loss.set(xlabel="epoch", ylabel="binary cross-entropy", title="PIMA diabetes MLP")
    ax_acc.plot(epochs, h.accuracy, label="train (mini-batches)")
    ax_acc.plot(epochs, h.val_accuracy, label="held-out test")
    ax_acc.axhline(report.result["majority_baseline"], ls=":", color="0.4", label="majority")
    ax_acc.set(xlabel="epoch", ylabel="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.legend()
    return fig
