"""The graded exercises, one :class:`~jaxdl.exercises.Exercise` entry each, in chapter order.

An entry names the project's own hand gradient (its signature becomes the stub's), states the
task in the stub's docstring, draws the inputs (small fixed shapes, so each compiles once), and
computes the truth with :func:`jax.grad` or :func:`jax.vjp` of the chapter's pure forward
function. A new chapter adds its exercise here: for layer norm, say, ``solution=
"jaxdl.nn.layer_norm:layer_norm_grad"``, inputs ``x`` and the upstream gradient ``g``, truth
``jax.vjp(layer_norm, x)[1](g)``, and a ``mistake`` such as forgetting the mean's term.
"""

from __future__ import annotations

import functools

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxdl.exercises import Exercise


def _floats(shape, low: float, high: float):
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)
    return hnp.arrays(np.float64, shape, elements=elements)


def _jit(fn):
    """``fn`` jitted once, on first use (so that importing the catalog compiles nothing)."""

    @functools.cache
    def compiled():
        import jax

        return jax.jit(fn)

    @functools.wraps(fn)
    def call(**inputs):
        return compiled()(**inputs)

    return call


# ------------------------------------------------------------------ gradient descent (1909)


@_jit
def _debye_truth(x):
    import jax
    import jax.numpy as jnp

    from jaxdl.milestones.gradient_descent import debye_error

    return jax.grad(lambda v: jnp.sum(debye_error(v)))(x)


DEBYE = Exercise(
    name="debye-slope",
    chapter="gradient_descent",
    solution="jaxdl.milestones.gradient_descent:debye_slope",
    task="""
The slope of Debye's error curve ``error(x) = x**5 - 2 x**3 - 2``, elementwise.

Args:
  x: points, an array of any shape.

Returns:
  ``d error / dx`` at every point of ``x``, the same shape as ``x``.
""",
    imports="import jax\nimport jax.numpy as jnp\nfrom jax.typing import ArrayLike",
    inputs=lambda: st.fixed_dictionaries({"x": _floats((5,), -2.0, 2.0)}),
    truth=_debye_truth,
    mistake="x = jnp.asarray(x)\nreturn 5 * x**4 - 6 * x",
)

# ------------------------------------------------------------------------- backprop (1986)


def _trask_inputs():
    from jaxdl.milestones.backprop import Params, TrainingSet

    params = st.builds(Params, syn0=_floats((3, 4), -2.0, 2.0), syn1=_floats((4, 1), -2.0, 2.0))
    batch = st.builds(TrainingSet, x=_floats((4, 3), -1.0, 1.0), y=_floats((4, 1), 0.0, 1.0))
    return st.fixed_dictionaries({"params": params, "batch": batch})


@_jit
def _trask_truth(params, batch):
    import jax

    from jaxdl.milestones.backprop import loss

    return jax.grad(loss)(params, batch)


TRASK = Exercise(
    name="trask-deltas",
    chapter="backprop",
    solution="jaxdl.milestones.backprop:loss_grad",
    task="""
The gradient of Trask's loss with respect to both weight matrices, by backpropagation.

The network: ``l1 = sigmoid(x @ syn0)`` ``[N, H]``, ``l2 = sigmoid(l1 @ syn1)`` ``[N, 1]``
(``forward(params, batch.x)`` returns ``(l1, l2)``), and the loss is half the sum of squared
errors ``sum((l2 - y)**2) / 2``. Work backwards with deltas: the error at ``l2``, through the
output sigmoid, back through ``syn1``, through the hidden sigmoids. The sigmoid's slope in
terms of its output ``s`` is ``s (1 - s)``.

Args:
  params: ``Params(syn0 [3, H], syn1 [H, 1])``.
  batch: ``TrainingSet(x [N, 3], y [N, 1])``.

Returns:
  ``Params(syn0=dL/dsyn0, syn1=dL/dsyn1)``, each the shape of its weight.
""",
    imports="import jax.numpy as jnp\n\nfrom jaxdl.milestones.backprop import Params, TrainingSet, forward",
    inputs=_trask_inputs,
    truth=_trask_truth,
    mistake="""\
l1, l2 = forward(params, batch.x)
l2_delta = (l2 - batch.y) * l2 * (1 - l2)
l1_delta = l2_delta @ params.syn1.T  # the hidden sigmoids' slope is missing
return Params(syn0=batch.x.T @ l1_delta, syn1=l1.T @ l2_delta)""",
)

# --------------------------------------------------------- softmax cross-entropy (deep CNN)


def _softmax_inputs():
    return st.fixed_dictionaries(
        {
            "logits": _floats((3, 4), -5.0, 5.0),
            "labels": hnp.arrays(np.int32, (3,), elements=st.integers(0, 3)),
        }
    )


@_jit
def _softmax_truth(logits, labels):
    import jax

    from jaxdl.losses import softmax_cross_entropy

    return jax.grad(softmax_cross_entropy)(logits, labels)


SOFTMAX = Exercise(
    name="softmax-cross-entropy",
    chapter="deep_cnn",
    solution="jaxdl.losses:softmax_cross_entropy_grad",
    task="""
The gradient of the mean softmax cross-entropy with respect to the logits.

``L = (1/B) sum_n [logsumexp(z_n) - z_n[y_n]]`` for logits ``z`` ``[B, K]`` and integer
labels ``y`` ``[B]`` in ``[0, K)``.

Args:
  logits: ``[B, K]``.
  labels: ``[B]`` integers.

Returns:
  ``dL/dz``, ``[B, K]``.
""",
    imports="import jax\nimport jax.numpy as jnp\nfrom jax.typing import ArrayLike",
    inputs=_softmax_inputs,
    truth=_softmax_truth,
    mistake="""\
logits = jnp.asarray(logits)
onehot = jax.nn.one_hot(labels, logits.shape[1], dtype=logits.dtype)
return jax.nn.softmax(logits, axis=1) - onehot  # the mean's 1/B is missing""",
)

# ------------------------------------------------------------------- max-pool (deep CNN)


def _distinct(shape):
    """Arrays of ``shape`` whose entries all differ: a shuffle of -n/4, ..., n/4 in steps of 1/2.

    At a tie the max has no derivative (``jax.grad`` splits it), so ties are never drawn; a
    permutation shrinks fast, where Hypothesis's ``unique=True`` float arrays shrink slowly.
    """
    n = int(np.prod(shape))
    values = [(k - n // 2) / 2 for k in range(n)]
    return st.permutations(values).map(lambda p: np.asarray(p, np.float64).reshape(shape))


def _max_pool_inputs():
    return st.fixed_dictionaries(
        {
            "x": _distinct((1, 4, 4, 2)),
            "g": _floats((1, 2, 2, 2), -3.0, 3.0),
        }
    )


@_jit
def _max_pool_truth(x, g):
    import jax

    from jaxdl.nn.pooling import max_pool

    return jax.vjp(max_pool, x)[1](g)[0]


MAX_POOL = Exercise(
    name="max-pool",
    chapter="deep_cnn",
    solution="jaxdl.nn.pooling:max_pool_grad",
    task="""
The backward pass of 2x2 max-pooling with stride 2.

The forward pass ``max_pool(x)`` takes ``x`` ``[B, H, W, C]`` (here H and W are even) to
``[B, H/2, W/2, C]``, each output the largest of its 2x2 window. Given the upstream gradient
``g = dL/d max_pool(x)``, return ``dL/dx``. The values of ``x`` are all different.

Args:
  x: the forward input ``[B, H, W, C]``.
  g: the upstream gradient ``[B, H/2, W/2, C]``.

Returns:
  ``dL/dx``, ``[B, H, W, C]``.
""",
    imports="import jax.numpy as jnp\nfrom jax.typing import ArrayLike",
    inputs=_max_pool_inputs,
    truth=_max_pool_truth,
    mistake="""\
# every entry of a window gets the window's gradient, not only the largest
g = jnp.asarray(g)
return jnp.repeat(jnp.repeat(g, 2, axis=1), 2, axis=2)""",
)

# ------------------------------------------------------------------------------ LSTM (1997)

_T, _B, _I, _H = 4, 2, 3, 2


def _lstm_inputs():
    from jaxdl.nn.recurrent import LSTMParams

    params = st.builds(
        LSTMParams,
        w_x=_floats((_I, 4 * _H), -1.0, 1.0),
        w_h=_floats((_H, 4 * _H), -1.0, 1.0),
        b=_floats((4 * _H,), -1.0, 1.0),
        w_y=_floats((_H, 1), -1.0, 1.0),
        b_y=_floats((1,), -1.0, 1.0),
    )
    return st.fixed_dictionaries(
        {"params": params, "xs": _floats((_T, _B, _I), -1.0, 1.0), "d_h": _floats((_B, _H), -1, 1)}
    )


@_jit
def _lstm_truth(params, xs, d_h):
    import jax

    from jaxdl.nn.recurrent import lstm_hidden_reference

    return jax.vjp(lstm_hidden_reference, params, xs)[1](d_h)


@functools.cache
def _lstm_trace():
    import jax

    from jaxdl.nn.recurrent import lstm_trace

    return jax.jit(lstm_trace)


def _lstm_call(function, inputs):
    trace = _lstm_trace()(inputs["params"], inputs["xs"])
    return function(inputs["params"], inputs["xs"], trace, inputs["d_h"])


LSTM = Exercise(
    name="lstm-bptt",
    chapter="lstm",
    solution="jaxdl.nn.recurrent:lstm_bptt",
    task="""
Backpropagation through time for the LSTM: the gradient of a loss of the final hidden state.

One step, with ``z = x_t W_x + h_{t-1} W_h + b`` split into four ``[B, H]`` blocks in the
order i, f, g, o (``jnp.split(z, 4, axis=-1)``)::

    i = sigmoid(z_i)   f = sigmoid(z_f)   g = tanh(z_g)   o = sigmoid(z_o)
    c_t = f * c_{t-1} + i * g        h_t = o * tanh(c_t)        (h_0 = c_0 = 0)

``trace`` holds every step's ``h``, ``c``, ``i``, ``f``, ``g``, ``o`` (each ``[T, B, H]``;
here every step is real, ``trace.live`` is all true). Walk the sequence backwards from
``d_h = dL/dh_T``, carrying the gradients with respect to ``h_t`` and ``c_t``.

Args:
  params: ``LSTMParams(w_x [I, 4H], w_h [H, 4H], b [4H], w_y [H, O], b_y [O])``.
  xs: inputs ``[T, B, I]``.
  trace: ``lstm_trace(params, xs)``.
  d_h: ``dL/dh_T``, ``[B, H]``.

Returns:
  ``(grads, d_xs)``: ``LSTMParams`` of the gradients (``w_y`` and ``b_y`` do not touch
  ``h_T``: give zeros of their shapes) and ``dL/dxs`` ``[T, B, I]``.
""",
    imports=(
        "import jax\nimport jax.numpy as jnp\n\n"
        "from jaxdl.nn.recurrent import LSTMParams, LSTMTrace"
    ),
    inputs=_lstm_inputs,
    truth=_lstm_truth,
    call=_lstm_call,
    returns=("grads", "d_xs"),
    mistake="""\
T = xs.shape[0]
dh, dc = d_h, jnp.zeros_like(d_h)
d_wx, d_wh, d_b = (jnp.zeros_like(params.w_x), jnp.zeros_like(params.w_h),
                   jnp.zeros_like(params.b))
d_xs = []
for t in reversed(range(T)):
    h_prev = trace.h[t - 1] if t else jnp.zeros_like(d_h)
    c_prev = trace.c[t - 1] if t else jnp.zeros_like(d_h)
    i, f, g, o, c = trace.i[t], trace.f[t], trace.g[t], trace.o[t], trace.c[t]
    dc = dc + dh * o * (1 - jnp.tanh(c) ** 2)
    dz = jnp.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                          dc * i * (1 - g**2), dh * jnp.tanh(c) * o * (1 - o)], axis=-1)
    d_wx, d_wh, d_b = d_wx + xs[t].T @ dz, d_wh + h_prev.T @ dz, d_b + dz.sum(0)
    d_xs.append(dz @ params.w_x.T)
    dh = dz @ params.w_h.T
    # the cell's gradient should flow on through the forget gate, dc * f: it is dropped
    dc = jnp.zeros_like(dc)
grads = LSTMParams(d_wx, d_wh, d_b, jnp.zeros_like(params.w_y), jnp.zeros_like(params.b_y))
return grads, jnp.stack(d_xs[::-1])""",
)

# ------------------------------------------------------------------- the VAE (2013)


@_jit
def _gaussian_kl_truth(mu, logvar, g):
    import jax

    from jaxdl.milestones.vae import gaussian_kl

    return jax.grad(lambda m, v: g * gaussian_kl(m, v), argnums=(0, 1))(mu, logvar)


GAUSSIAN_KL = Exercise(
    name="gaussian-kl",
    chapter="vae",
    solution="jaxdl.milestones.vae:gaussian_kl_backward",
    task="""
The gradient of the VAE's KL term with respect to the encoder's means and log-variances.

``KL = -(1/B) sum_n sum_j (1 + logvar[n, j] - mu[n, j]**2 - exp(logvar[n, j])) / 2``: the KL
divergence of ``N(mu, exp(logvar))`` from ``N(0, 1)``, summed over the latent units and averaged
over the batch of ``B``. Given ``g = dL/dKL`` (a scalar), return ``dL/dmu`` and ``dL/dlogvar``.

Args:
  mu: ``[B, Z]``.
  logvar: ``[B, Z]``.
  g: the upstream gradient, a scalar.

Returns:
  ``(dL/dmu [B, Z], dL/dlogvar [B, Z])``.
""",
    imports="import jax.numpy as jnp\nfrom jax.typing import ArrayLike",
    inputs=lambda: st.fixed_dictionaries(
        {
            "mu": _floats((4, 3), -3.0, 3.0),
            "logvar": _floats((4, 3), -3.0, 3.0),
            "g": _floats((), -2.0, 2.0),
        }
    ),
    truth=_gaussian_kl_truth,
    returns=("d_mu", "d_logvar"),
    mistake="""\
mu, logvar = jnp.asarray(mu), jnp.asarray(logvar)
# the batch mean's 1/B is missing
return g * mu, g * 0.5 * (jnp.exp(logvar) - 1)""",
)

# ------------------------------------------------------------------ the shared activations


@_jit
def _sigmoid_truth(x):
    import jax
    import jax.numpy as jnp

    return jax.grad(lambda v: jnp.sum(jax.nn.sigmoid(v)))(x)


SIGMOID = Exercise(
    name="sigmoid",
    chapter="backprop",
    solution="jaxdl.activations:sigmoid_grad",
    task="""
The derivative of the logistic sigmoid ``sigmoid(x) = 1 / (1 + exp(-x))``, elementwise.

Args:
  x: an array of any shape (the sigmoid's input, not its output).

Returns:
  ``d sigmoid(x) / dx`` at every entry, the same shape as ``x``.
""",
    imports="import jax\nimport jax.numpy as jnp\nfrom jax.typing import ArrayLike",
    inputs=lambda: st.fixed_dictionaries({"x": _floats((6,), -8.0, 8.0)}),
    truth=_sigmoid_truth,
    mistake="""\
# Trask's slope s (1 - s) applied to the input instead of the output s = sigmoid(x)
x = jnp.asarray(x)
return x * (1 - x)""",
)

# ------------------------------------------------------------------ the shared losses


@_jit
def _mse_truth(predictions, targets):
    import jax

    from jaxdl.losses import mse

    return jax.grad(mse)(predictions, targets)


MSE = Exercise(
    name="mse",
    chapter="linear_regression",
    solution="jaxdl.losses:mse_grad",
    task="""
The gradient of the mean squared error ``mean((p - t)**2)`` with respect to ``p``.

Args:
  predictions: ``p``, any shape.
  targets: ``t``, the same shape.

Returns:
  ``dL/dp``, the shape of ``predictions``.
""",
    imports="import jax.numpy as jnp\nfrom jax.typing import ArrayLike",
    inputs=lambda: st.fixed_dictionaries(
        {"predictions": _floats((3, 2), -5.0, 5.0), "targets": _floats((3, 2), -5.0, 5.0)}
    ),
    truth=_mse_truth,
    mistake="""\
p, t = jnp.asarray(predictions), jnp.asarray(targets)
return 2 * (p - t) / p.shape[0]  # the mean is over all entries, not the rows""",
)


#: Every exercise, in the order of the chapters that teach them.
EXERCISES: tuple[Exercise, ...] = (
    DEBYE,
    MSE,
    TRASK,
    SIGMOID,
    SOFTMAX,
    MAX_POOL,
    LSTM,
    GAUSSIAN_KL,
)
