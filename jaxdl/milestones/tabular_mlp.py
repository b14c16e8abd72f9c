"""The Keras-style tabular MLP (Chollet's Keras, 2015; seed 001's PIMA diabetes example).

Seed 001 shows the five steps every Keras tutorial follows: load a table, build a
``Sequential`` stack of ``Dense`` layers (12 ReLU, 8 ReLU, 1 sigmoid), compile it with binary
cross-entropy and Adam, fit it for 150 epochs in batches of 10, evaluate. This chapter runs
those steps with :class:`jaxdl.milestones.tabular_mlp.Sequential` on the real PIMA table the package ships
(the 532 complete records curated by Venables & Ripley for R's MASS, 7 features; see
``jaxdl/data/PIMA.md``). The seed evaluates on its training data; here the model is judged
on MASS's held-out 332 test subjects, never seen in training, against the majority-class
baseline (always "not diabetic": 67.2%).

Features are standardised with the training rows' mean and standard deviation (a Keras
``Normalization`` layer does the same); ``--no-standardize`` feeds the raw values as the seed
does, which trains worse because glucose (~120) dwarfs the pedigree function (~0.5).

A minimal Keras-style ``Sequential`` over pure functions (seed 001: build, compile, fit, evaluate).

Seed 001 trains a Keras MLP on the PIMA diabetes table in five lines::

    model = Sequential([Dense(12, input_dim=8, activation="relu"),
                        Dense(8, activation="relu"),
                        Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam",
                  metrics=["accuracy"])
    model.fit(X, Y, epochs=150, batch_size=10)
    scores = model.evaluate(X, Y)

The same five lines work here (with an optax optimizer and an explicit key). Underneath, the
model is the functional API of this package: a tuple of :class:`Dense` specs, a tuple of
:class:`jaxdl.nn.dense_stack.Layer`, :func:`forward` built from :func:`jaxdl.nn.affine.dense` and the activations
of :mod:`jaxdl.activations`, and :func:`loss_and_grad`, which backpropagates **by hand** with
``dense_backward`` and each activation's derivative (``jax.grad`` is the judge in the tests and in
``jaxdl check``). :meth:`Sequential.fit` runs every epoch and every mini-batch of the whole fit
inside one ``jit`` as two nested :func:`jax.lax.scan` loops; the object only holds the current
parameters, as Keras does, so the loop itself stays pure.

Binary cross-entropy is computed from the last layer's *logits* (Keras does the same behind a
sigmoid output): ``mean(softplus(z) - y z)``, whose gradient is ``(sigmoid(z) - y) / N``, so a
confident wrong answer never produces ``log(0)``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.typing import ArrayLike

from jaxdl.activations import ACTIVATIONS
from jaxdl.backward import with_gradient
from jaxdl.data import tables
from jaxdl.gradcheck import GradCheck, check_gradient
from jaxdl.losses import (
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
    mse,
    mse_grad,
)
from jaxdl.milestones import Milestone
from jaxdl.nn import dense_stack
from jaxdl.nn.dense_stack import Layer
from jaxdl.optim import TrainState
from jaxdl.report import Report
from jaxdl.training import trainer
from jaxdl.validate import (
    BATCH,
    EPOCHS,
    LEARNING_RATE_CEILING,
    SEED,
    check_limits,
    require_finite,
    require_positive_float,
    require_positive_int,
)

MILESTONE = Milestone(
    "tabular-mlp",
    2015,
    "Chollet (Keras); Smith et al. 1988 data",
    "Keras-style MLP on the PIMA diabetes table",
    month=3,
)

Loss = Literal["binary_crossentropy", "mse"]
LOSSES: tuple[str, ...] = ("binary_crossentropy", "mse")
#: Activations a layer may use (``None`` is linear); the step has no useful derivative.
LAYER_ACTIVATIONS: tuple[str, ...] = tuple(a for a in ACTIVATIONS if a != "heaviside")


class Dense(NamedTuple):
    """A fully connected layer's spec, as in ``keras.layers.Dense(units, activation=...)``."""

    units: int
    activation: str | None = None  # a name from jaxdl.activations, or None for linear


Params = tuple[Layer, ...]  # one jaxdl.nn.dense_stack.Layer(w [F_in, F_out], b [F_out]) per Dense


class History(NamedTuple):
    """Per-epoch metrics of :meth:`Sequential.fit` (Keras' ``History.history``)."""

    loss: np.ndarray  # [epochs] mean training loss over the epoch's mini-batches
    accuracy: np.ndarray  # [epochs] training accuracy over the same mini-batches
    val_loss: np.ndarray | None  # [epochs] on validation_data after each epoch, if given
    val_accuracy: np.ndarray | None  # [epochs]


def check_specs(layers: Sequence[Dense]) -> tuple[Dense, ...]:
    """``ValueError`` unless every layer has a positive width and a known activation."""
    layers = tuple(layers)
    if not layers:
        raise ValueError("a Sequential model needs at least one Dense layer, got none")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Dense):
            raise ValueError(f"layer {i} must be a Dense(units, activation), got {layer!r}")
        units = layer.units
        require_positive_int(f"layer {i}: units", units)
        if layer.activation is not None and layer.activation not in LAYER_ACTIVATIONS:
            raise ValueError(
                f"layer {i}: unknown activation {layer.activation!r}; "
                f"use None or one of {', '.join(LAYER_ACTIVATIONS)}"
            )
    return layers


def init_params(
    layers: Sequence[Dense], input_dim: int, *, key: jax.Array, dtype=jnp.float32
) -> Params:
    """Keras' defaults: Glorot-uniform weights ``U(-a, a)``, ``a = sqrt(6 / (F_in + F_out))``; zero biases."""
    layers = check_specs(layers)
    require_positive_int("input_dim", input_dim)
    widths = (input_dim, *(layer.units for layer in layers))
    keys = jax.random.split(key, len(layers))
    params = []
    glorot = jax.nn.initializers.glorot_uniform()
    for k, f_in, f_out in zip(keys, widths[:-1], widths[1:], strict=True):
        params.append(Layer(w=glorot(k, (f_in, f_out), dtype), b=jnp.zeros((f_out,), dtype)))
    return tuple(params)


def _activations(layers: Sequence[Dense]) -> tuple[str | None, ...]:
    return tuple(layer.activation for layer in layers)


def forward(
    layers: Sequence[Dense], params: Params, x: ArrayLike
) -> tuple[jax.Array, tuple[jax.Array, ...], tuple[jax.Array, ...]]:
    """:func:`jaxdl.nn.dense_stack.forward` with each layer's own activation.

    Returns:
      ``(logits, inputs, pre_activations)``: ``logits [N, F_out]`` is the last layer's
      ``x w + b`` *before* its activation (the loss head applies it).
    """
    return dense_stack.forward(params, x, _activations(layers))


def predict(layers: Sequence[Dense], params: Params, x: ArrayLike) -> jax.Array:
    """The model's output ``[N, F_out]``, the last layer's activation applied."""
    logits, _, _ = forward(layers, params, x)
    return predict_from_logits(layers, logits)


def predict_from_logits(layers: Sequence[Dense], logits: jax.Array) -> jax.Array:
    """The last layer's activation applied to its pre-activation ``logits``."""
    last = layers[-1].activation
    return logits if last is None else ACTIVATIONS[last][0](logits)


def _check_loss(layers: Sequence[Dense], loss: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}")
    if loss == "binary_crossentropy" and layers[-1].activation != "sigmoid":
        raise ValueError(
            "binary_crossentropy needs a sigmoid output layer (Dense(1, activation='sigmoid')), "
            f"got activation {layers[-1].activation!r}"
        )


def _loss_head(layers: Sequence[Dense], loss: str, logits: jax.Array, y: jax.Array):
    """``(loss, dloss/dlogits)`` for the output layer."""
    if loss == "binary_crossentropy":
        return binary_cross_entropy_with_logits(logits, y), binary_cross_entropy_with_logits_grad(
            logits, y
        )
    last = layers[-1].activation
    if last is None:
        return mse(logits, y), mse_grad(logits, y)
    f, f_grad = ACTIVATIONS[last]
    out = f(logits)
    return mse(out, y), mse_grad(out, y) * f_grad(logits)


def loss_value(
    layers: Sequence[Dense], params: Params, x: ArrayLike, y: ArrayLike, *, loss: Loss
) -> jax.Array:
    """The scalar loss (forward only: what ``jax.grad`` differentiates to judge the hand gradient)."""
    logits, _, _ = forward(layers, params, x)
    return _loss_head(layers, loss, logits, jnp.asarray(y))[0]


def loss_and_grad(
    layers: Sequence[Dense], params: Params, x: ArrayLike, y: ArrayLike, *, loss: Loss
) -> tuple[jax.Array, Params]:
    """The loss and its gradient by backpropagation, written by hand.

    ``g = dL/dz_last`` from the loss head; then from the last layer down:
    ``(dx, dw, db) = dense_backward(input_i, w_i, g)`` and, below layer ``i``,
    ``g = dx * f_{i-1}'(z_{i-1})`` (the previous layer's activation derivative).

    Args:
      layers: the specs; params: their parameters.
      x: inputs ``[N, F_in]``; y: targets ``[N, F_out]``.
      loss: ``"binary_crossentropy"`` (sigmoid output) or ``"mse"``.

    Returns:
      ``(loss, grads)`` with ``grads`` shaped like ``params``.
    """
    logits, inputs, pre = forward(layers, params, x)
    value, g = _loss_head(layers, loss, logits, jnp.asarray(y))
    return value, dense_stack.backward(params, _activations(layers), inputs, pre, g)


def _accuracy(layers: Sequence[Dense], logits: jax.Array, y: jax.Array) -> jax.Array:
    """Binary accuracy with threshold 0.5 (one output) or argmax accuracy (several)."""
    if logits.shape[-1] == 1:
        probability = predict_from_logits(layers, logits)
        return jnp.mean(((probability > 0.5) == (y > 0.5)).astype(jnp.float32))
    return jnp.mean((jnp.argmax(logits, -1) == jnp.argmax(y, -1)).astype(jnp.float32))


@functools.cache
def _objective(layers: tuple[Dense, ...], loss: str):
    """``objective(params, (x, y)) -> (loss, accuracy)``, its gradient the hand backpropagation
    of :func:`loss_and_grad` (a ``custom_vjp`` rule), for the shared trainer."""

    def value(params, x, y):
        return loss_value(layers, params, x, y, loss=loss)

    def gradient(params, x, y):
        return loss_and_grad(layers, params, x, y, loss=loss)[1]

    hand = with_gradient(value, gradient)

    def objective(params, batch):
        x, y = batch
        logits, _, _ = forward(layers, params, x)
        return hand(params, x, y), _accuracy(layers, logits, y)

    return objective


@functools.partial(jax.jit, static_argnames=("layers", "loss"))
def _evaluate(params, x, y, *, layers, loss):
    logits, _, _ = forward(layers, params, x)
    return _loss_head(layers, loss, logits, y)[0], _accuracy(layers, logits, y)


@functools.partial(jax.jit, static_argnames=("epochs",))
def _epoch_means(values: jax.Array, *, epochs: int) -> jax.Array:
    return jnp.mean(values.reshape(epochs, -1), axis=1)


def _as_xy(x: ArrayLike, y: ArrayLike, input_dim: int, output_dim: int, dtype, what: str):
    x, y = np.asarray(x), np.asarray(y)
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or x.shape[1] != input_dim:
        raise ValueError(f"{what} features must have shape [N, {input_dim}], got {x.shape}")
    if y.shape != (x.shape[0], output_dim):
        raise ValueError(
            f"{what} targets must have shape [{x.shape[0]}] or [{x.shape[0]}, {output_dim}] "
            f"for features {x.shape}, got {y.shape}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{what} data is empty")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError(f"{what} data contains NaN or infinite values")
    return jnp.asarray(x, dtype), jnp.asarray(y, dtype)


class Sequential:
    """Keras' ``Sequential`` for dense layers: ``build``, ``compile``, ``fit``, ``evaluate``.

    Example::

        model = Sequential([Dense(12, "relu"), Dense(8, "relu"), Dense(1, "sigmoid")])
        model.build(8, key=jax.random.key(0))
        model.compile(optax.adam(1e-3), "binary_crossentropy")
        history = model.fit(x, y, epochs=150, batch_size=10, key=jax.random.key(1))
        print(model.evaluate(x_test, y_test))  # {"loss": ..., "accuracy": ...}

    Parameters are float32 (``dtype``) whatever JAX's default float type.
    """

    def __init__(self, layers: Sequence[Dense], *, dtype=jnp.float32):
        self.layers = check_specs(layers)
        self.dtype = dtype
        self.params: Params | None = None
        self.optimizer: optax.GradientTransformation | None = None
        self.loss: str | None = None
        self.opt_state: optax.OptState | None = None

    @property
    def input_dim(self) -> int:
        self._require_built()
        return int(self.params[0].w.shape[0])

    def _require_built(self) -> None:
        if self.params is None:
            raise ValueError("the model is not built yet; call build(input_dim, key=...) first")

    def build(self, input_dim: int, *, key: jax.Array) -> Sequential:
        """Create the parameters for ``input_dim`` input features; returns the model."""
        self.params = init_params(self.layers, input_dim, key=key, dtype=self.dtype)
        self.opt_state = None if self.optimizer is None else self.optimizer.init(self.params)
        return self

    def compile(self, optimizer: optax.GradientTransformation, loss: Loss) -> Sequential:
        """Choose the optimizer (any optax transformation) and the loss; returns the model."""
        if not isinstance(optimizer, optax.GradientTransformation):
            raise ValueError(
                f"optimizer must be an optax.GradientTransformation (e.g. optax.adam(1e-3)), "
                f"got {optimizer!r}"
            )
        _check_loss(self.layers, loss)
        self.optimizer, self.loss = optimizer, loss
        self.opt_state = None if self.params is None else optimizer.init(self.params)
        return self

    def summary(self) -> str:
        """One line per layer with its output shape and parameter count, as Keras prints."""
        self._require_built()
        lines, total = [], 0
        for i, (layer, p) in enumerate(zip(self.layers, self.params, strict=True)):
            count = int(p.w.size + p.b.size)
            total += count
            lines.append(
                f"dense_{i} ({layer.activation or 'linear'}): output [N, {layer.units}], "
                f"{count} params"
            )
        return "\n".join(lines + [f"total params: {total}"])

    def fit(
        self,
        x: ArrayLike,
        y: ArrayLike,
        *,
        epochs: int,
        batch_size: int,
        key: jax.Array,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
    ) -> History:
        """Train with shuffled mini-batches (a partial last batch sits out that epoch).

        Args:
          x: features ``[N, F_in]``; y: targets ``[N]`` or ``[N, F_out]``.
          epochs: passes over the data; batch_size: examples per step (at most ``N``).
          key: shuffles every epoch.
          validation_data: ``(x_val, y_val)`` evaluated after every epoch.

        Returns:
          The per-epoch :class:`History`; the model's parameters are updated.
        """
        self._require_built()
        if self.optimizer is None:
            raise ValueError("the model is not compiled yet; call compile(optimizer, loss) first")
        require_positive_int("epochs", epochs)
        require_positive_int("batch_size", batch_size)
        out = self.layers[-1].units
        x, y = _as_xy(x, y, self.input_dim, out, self.dtype, "training")
        if batch_size > x.shape[0]:
            raise ValueError(f"batch_size {batch_size} exceeds the {x.shape[0]} training examples")
        validate = validation_data is not None
        if validate:
            x_val, y_val = _as_xy(*validation_data, self.input_dim, out, self.dtype, "validation")
        feed, steps = trainer.shuffled_epochs(
            (x, y), batch_size=batch_size, keys=jax.random.split(key, epochs)
        )
        validation = []

        def validate_epoch(state: TrainState, feed_state, done: int) -> None:
            validation.append(
                _evaluate(state.params, x_val, y_val, layers=self.layers, loss=self.loss)
            )

        run = trainer.train(
            _objective(self.layers, self.loss),
            TrainState(self.params, self.opt_state, jnp.zeros([], jnp.int32)),
            self.optimizer,
            feed,
            steps=epochs * steps,
            has_aux=True,
            chunk_steps=steps,
            hooks=[validate_epoch] if validate else [],
        )
        self.params, self.opt_state = run.state.params, run.state.opt_state
        train = [np.asarray(_epoch_means(v, epochs=epochs)) for v in (run.losses, run.aux)]
        val = [np.asarray(v) for v in zip(*validation, strict=True)] if validate else [None] * 2
        return History(*train, *val)

    def evaluate(self, x: ArrayLike, y: ArrayLike) -> dict[str, float]:
        """``{"loss", "accuracy"}`` on ``(x, y)`` with the current parameters."""
        self._require_built()
        if self.loss is None:
            raise ValueError("the model is not compiled yet; call compile(optimizer, loss) first")
        x, y = _as_xy(x, y, self.input_dim, self.layers[-1].units, self.dtype, "evaluation")
        logits, _, _ = forward(self.layers, self.params, x)
        return {
            "loss": float(_loss_head(self.layers, self.loss, logits, y)[0]),
            "accuracy": float(_accuracy(self.layers, logits, y)),
        }

    def predict(self, x: ArrayLike) -> jax.Array:
        """The model's outputs ``[N, F_out]`` (probabilities after a sigmoid)."""
        self._require_built()
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"features must have shape [N, {self.input_dim}], got {x.shape}")
        require_finite("features", x)
        return predict(self.layers, self.params, jnp.asarray(x, self.dtype))


#: Seed 001's network: Dense(12, relu) -> Dense(8, relu) -> Dense(1, sigmoid).
SEED_LAYERS = (Dense(12, "relu"), Dense(8, "relu"), Dense(1, "sigmoid"))


@dataclasses.dataclass(frozen=True)
class Config:
    """Seed 001's Keras run: 150 epochs, batches of 10, Adam at Keras' default rate."""

    epochs: int = dataclasses.field(
        default=150, metadata={"bounds": EPOCHS, "help": "passes over the training set"}
    )
    batch_size: int = dataclasses.field(
        default=10, metadata={"bounds": BATCH, "help": "examples per step"}
    )
    learning_rate: float = dataclasses.field(
        default=0.001,
        metadata={"ceiling": LEARNING_RATE_CEILING, "help": "Adam step size", "flag": "--lr"},
    )
    standardize: bool = dataclasses.field(
        default=True, metadata={"help": "scale features by the training mean and std"}
    )
    seed: int = dataclasses.field(
        default=0, metadata={"bounds": SEED, "help": "initialisation and shuffling"}
    )

    def __post_init__(self):
        check_limits(self)
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
        len(tables.PIMA_FEATURES), key=jax.random.key(config.seed)
    )
    return model.compile(optax.adam(config.learning_rate), "binary_crossentropy")


def run(config: Config = Config()) -> Report:
    """Load, build, compile, fit, evaluate: the seed's five steps, judged on held-out data."""
    train, test = tables.pima("train"), tables.pima("test")
    x_train, x_test = train.features, test.features
    if config.standardize:
        scale = tables.fit_standardizer(x_train)
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
    best = int(np.argmin(h.val_loss)) + 1  # after it the held-out loss rises: overfitting
    ax_loss.axvline(best, ls=":", color="0.4", label=f"held-out minimum (epoch {best})")
    ax_loss.set(xlabel="epoch", ylabel="binary cross-entropy", title="PIMA diabetes MLP")
    ax_acc.plot(epochs, h.accuracy, label="train (mini-batches)")
    ax_acc.plot(epochs, h.val_accuracy, label="held-out test")
    ax_acc.axhline(report.result["majority_baseline"], ls=":", color="0.4", label="majority")
    ax_acc.set(xlabel="epoch", ylabel="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.legend()
    return fig
