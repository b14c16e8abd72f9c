"""The graded exercises, one :class:`~jaxdl.exercises.Exercise` entry each, in chapter order.

An entry names the project's own hand gradient (its signature becomes the stub's), states the
task in the stub's docstring, draws the inputs (small fixed shapes, so each compiles once), and
computes the truth with :func:`jax.grad` or :func:`jax.vjp` of the chapter's pure forward
function. A new chapter adds its exercise here: for layer norm, ``solution=
"jaxdl.nn.layer_norm:layer_norm_backward"``, inputs ``x``, ``w`` and the upstream gradient ``g``,
truth ``jax.vjp(layer_norm, x, w)[1](g)``, a ``mistake`` such as forgetting the path through
``r``, and :class:`~jaxdl.exercises.Hint` entries: the known wrong answers, each computed from
the inputs. A forgotten path is the forward with that path cut by ``jax.lax.stop_gradient``
(the value is unchanged, the gradient loses the path's term); a wrong factor is the truth
scaled.
"""

from __future__ import annotations

import functools

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxdl.exercises import Exercise, Hint


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
    hints=(
        Hint(
            "the derivative of 2 x**3 is 6 x**2, not 6 x",
            lambda x: 5 * np.asarray(x) ** 4 - 6 * np.asarray(x),
        ),
    ),
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


def _trask_no_hidden_slope(params, batch):
    from jaxdl.milestones.backprop import Params, forward

    l1, l2 = forward(params, batch.x)
    l2_delta = (l2 - batch.y) * l2 * (1 - l2)
    return Params(syn0=batch.x.T @ (l2_delta @ params.syn1.T), syn1=l1.T @ l2_delta)


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
    hints=(
        Hint(
            "the hidden layer's delta lacks the hidden sigmoids' slope l1 (1 - l1): "
            "l1_delta = (l2_delta @ syn1.T) * l1 * (1 - l1)",
            lambda params, batch: _trask_no_hidden_slope(params, batch),
        ),
    ),
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
    hints=(
        Hint(
            "your gradient is B times too large: the loss is the mean over the B examples, "
            "so every entry carries a factor 1/B",
            lambda logits, labels: len(logits) * _softmax_truth(logits=logits, labels=labels),
        ),
    ),
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
    solution="jaxdl.nn.pooling:max_pool_backward",
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
    hints=(
        Hint(
            "every entry of a window got the window's gradient; only the largest entry "
            "(the one the forward pass kept) should, the others get 0",
            lambda x, g: np.repeat(np.repeat(np.asarray(g), 2, axis=1), 2, axis=2),
        ),
    ),
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
    hints=(
        Hint(
            "your gradients are B times too large: the KL term is averaged over the batch "
            "of B, so both carry a factor 1/B",
            lambda mu, logvar, g: tuple(
                len(mu) * part for part in _gaussian_kl_truth(mu=mu, logvar=logvar, g=g)
            ),
        ),
    ),
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
    hints=(
        Hint(
            "s (1 - s) is the slope in terms of the sigmoid's output s = sigmoid(x); "
            "you applied it to the input x",
            lambda x: np.asarray(x) * (1 - np.asarray(x)),
        ),
    ),
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
    hints=(
        Hint(
            "you divided by the number of rows; the mean is over all the entries "
            "(rows times columns)",
            lambda predictions, targets: (
                2 * (np.asarray(predictions) - np.asarray(targets)) / len(predictions)
            ),
        ),
    ),
)


# ------------------------------------------------------------------ the zip-code net (1989)


def _zip_draw(seed: int):
    """The zip-code net's parameters (``init="sqrt"``'s ranges, small random biases) and two
    16x16 digits in [-1, 1], from ``seed`` (a seed shrinks fast; 9760 drawn floats would not)."""
    from jaxdl.milestones.zip_code import Params

    rng = np.random.default_rng(seed)
    weights = {"h1_w": ((5, 5, 1, 12), 25), "h2_w": ((5, 5, 8, 12), 200),
               "h3_w": ((192, 30), 192), "out_w": ((30, 10), 30)}  # fmt: skip
    params = {k: rng.uniform(-2.4, 2.4, shape) / np.sqrt(f) for k, (shape, f) in weights.items()}
    biases = {"h1_b": (8, 8, 12), "h2_b": (4, 4, 12), "h3_b": (30,), "out_b": (10,)}
    params |= {k: rng.uniform(-0.1, 0.1, shape) for k, shape in biases.items()}
    return {"params": Params(**params), "x": rng.uniform(-1.0, 1.0, (2, 16, 16, 1))}


def _squared_pass(params, x, *, slopes=True, weights=True, inputs=True, pad=True, outputs=True):
    """Becker & LeCun's recursion as ``jax.grad`` of a linear map: the network's backward pass
    with every quantity squared is the gradient, at ``d = 0``, of the forward pass of the
    *increments* ``d`` of the parameters through a net whose weights, layer inputs and slopes
    are squared. Each flag set to ``False`` leaves one quantity unsquared (a known mistake);
    ``outputs=False`` takes the MSE's second derivative over the batch only (2 / B)."""
    import jax
    import jax.numpy as jnp

    from jaxdl.milestones import zip_code as zc
    from jaxdl.nn.affine import dense
    from jaxdl.nn.shared_conv import shared_conv
    from jaxdl.nn.table_conv import table_conv

    acts, n, sq = zc.forward(params, x), x.shape[0], jnp.square
    slope = [1 - sq(a) for a in acts[1:]]
    slope = [sq(s) for s in slope] if slopes else slope
    below = [acts.x, acts.h1, acts.h2.reshape(n, -1), acts.h3]
    below = [sq(a) for a in below] if inputs else below
    level = zc.PAD_VALUE**2 if pad and inputs else zc.PAD_VALUE
    w = jax.tree.map(sq, params) if weights else params
    top = jnp.full_like(acts.out, 2.0 / (acts.out.size if outputs else n))
    conv = dict(stride=zc.STRIDE, pad=zc.PAD)
    table = zc.H2_TABLE

    def increments(d):
        u = slope[0] * shared_conv(below[0], d.h1_w, d.h1_b, pad_value=level, **conv)
        up = table_conv(u, w.h2_w, jnp.zeros_like(d.h2_b), table, pad_value=0.0, **conv)
        u = slope[1] * (table_conv(below[1], d.h2_w, d.h2_b, table, pad_value=level, **conv) + up)
        up = dense(u.reshape(n, -1), w.h3_w, jnp.zeros_like(d.h3_b))
        u = slope[2] * (dense(below[2], d.h3_w, d.h3_b) + up)
        u = slope[3] * (dense(below[3], d.out_w, d.out_b) + dense(u, w.out_w, 0 * d.out_b))
        return jnp.sum(top * u)

    return jax.grad(increments)(jax.tree.map(jnp.zeros_like, params))


_CURVATURE_BODY = """\
conv = dict(stride=STRIDE, pad=PAD, pad_value={pad})
acts = forward(params, x)
n = acts.out.shape[0]
a2 = [jnp.square(a) for a in acts]
s2 = [{slope} for a in acts[1:]]
w2 = jax.tree.map(jnp.square, params)
g = jnp.full_like(acts.out, 2.0 / acts.out.size) * s2[3]
d_h3, d_out_w, d_out_b = dense_backward(a2[3], w2.out_w, g)
g = d_h3 * s2[2]
d_flat, d_h3_w, d_h3_b = dense_backward(a2[2].reshape(n, -1), w2.h3_w, g)
g = d_flat.reshape(acts.h2.shape) * s2[1]
d_h1, d_h2_w, d_h2_b = table_conv_backward(a2[1], w2.h2_w, g, H2_TABLE, **conv)
g = d_h1 * s2[0]
_, d_h1_w, d_h1_b = shared_conv_backward(a2[0], w2.h1_w, g, **conv)
return Params(d_h1_w, d_h1_b, d_h2_w, d_h2_b, d_h3_w, d_h3_b, d_out_w, d_out_b)"""

_squared = _jit(_squared_pass)

ZIP_CURVATURE = Exercise(
    name="zip-code-curvature",
    chapter="zip_code",
    solution="jaxdl.milestones.zip_code:curvature",
    task="""
The diagonal curvature ``h_kk`` of the zip-code net's loss that its Newton steps divide by.

Becker & LeCun's recursion, with ``a`` a unit's summed input and ``y = tanh(a)`` its output:

- at the outputs ``d2E/dy2 = 2 / (10 B)`` (the MSE over ``B`` digits and 10 outputs);
- through a unit ``d2E/da2 = f'(a)**2 d2E/dy2``, with ``f'(a) = 1 - y**2``;
- down a layer ``d2E/dy_j2 = sum_i w_ij**2 d2E/da_i2``;
- for a weight ``d2E/dw_ij2 = sum x_j**2 d2E/da_i2`` over the connections that share it, and
  for a bias the sum of ``d2E/da_i2``.

Each line is a step of the gradient's backward pass with the quantities squared. So take the
backward pass (``dense_backward``, ``table_conv_backward``, ``shared_conv_backward``, from the output
layer down to H1) and feed it squares: weights, layer inputs (``forward(params, x)`` gives
them), slopes, and the padding level ``PAD_VALUE``.

Args:
  params: the net's ``Params`` (H1, H2, H3 and output weights and biases).
  x: digits ``[B, 16, 16, 1]``.

Returns:
  ``Params`` of ``h_kk``, each the shape of its parameter (every entry >= 0).
""",
    imports=(
        "import jax\nimport jax.numpy as jnp\nfrom jax.typing import ArrayLike\n\n"
        "from jaxdl.milestones.zip_code import H2_TABLE, PAD, PAD_VALUE, STRIDE, Params, forward\n"
        "from jaxdl.nn.affine import dense_backward\nfrom jaxdl.nn.shared_conv import shared_conv_backward\n"
        "from jaxdl.nn.table_conv import table_conv_backward"
    ),
    inputs=lambda: st.builds(_zip_draw, st.integers(0, 2**20)),
    truth=_squared,
    mistake=_CURVATURE_BODY.format(pad="PAD_VALUE**2", slope="1 - jnp.square(a)"),
    hints=(
        Hint(
            "through a unit your curvature multiplies by the slope f'(a) = 1 - y**2; the "
            "recursion multiplies by its square, f'(a)**2",
            _jit(functools.partial(_squared_pass, slopes=False)),
            _CURVATURE_BODY.format(pad="PAD_VALUE**2", slope="1 - jnp.square(a)"),
        ),
        Hint(
            "going down a layer your curvature multiplies by the weights w_ij, not by w_ij**2",
            _jit(functools.partial(_squared_pass, weights=False)),
        ),
        Hint(
            "for a weight your curvature multiplies by its input x_j, not x_j**2 (and the "
            "padding by -1, not (-1)**2 = 1)",
            _jit(functools.partial(_squared_pass, inputs=False)),
        ),
        Hint(
            "the padding level must be squared too: in the curvature's pass the layers see "
            "PAD_VALUE**2 = 1 beyond the edge, not -1",
            _jit(functools.partial(_squared_pass, pad=False)),
            _CURVATURE_BODY.format(pad="PAD_VALUE", slope="jnp.square(1 - jnp.square(a))"),
        ),
        Hint(
            "your curvature is 10 times too large: the MSE averages over the B digits and "
            "their 10 outputs, so d2E/dy2 = 2 / (10 B) at the top",
            _jit(functools.partial(_squared_pass, outputs=False)),
        ),
    ),
)

# -------------------------------------------------------------- batch normalization (2015)

_BN_SHAPE = (4, 3)


def _bn_inputs():
    from jaxdl.nn.batch_norm import BatchNormParams

    c = _BN_SHAPE[1]
    params = st.builds(
        BatchNormParams, scale=_floats((c,), -2.0, 2.0), shift=_floats((c,), -2.0, 2.0)
    )
    return st.fixed_dictionaries(
        {"x": _floats(_BN_SHAPE, -3.0, 3.0), "params": params, "g": _floats(_BN_SHAPE, -2.0, 2.0)}
    )


def _bn_paths(x, params, *, mean=True, var=True):
    """Training-mode batch norm (any rank, channels last) with the path through the batch mean
    or the batch variance cut: the same output, a gradient without that path's term."""
    import jax
    import jax.numpy as jnp

    from jaxdl.nn.batch_norm import EPSILON, per_channel

    axes, keep = tuple(range(x.ndim - 1)), jax.lax.stop_gradient
    mu = jnp.mean(x, axis=axes, keepdims=True)
    centred = x - (mu if mean else keep(mu))
    variance = jnp.mean(centred**2, axis=axes, keepdims=True)
    xhat = centred / jnp.sqrt((variance if var else keep(variance)) + EPSILON)
    return per_channel(params.scale, x.ndim) * xhat + per_channel(params.shift, x.ndim)


def _bn_vjp(x, params, g, **paths):
    import jax

    return jax.vjp(functools.partial(_bn_paths, **paths), x, params)[1](g)


@_jit
def _bn_truth(x, params, g):
    import jax

    from jaxdl.nn.batch_norm import batch_norm

    return jax.vjp(batch_norm, x, params)[1](g)


def _bn_no_mean(x, params, g):
    dx, dparams = _bn_truth(x=x, params=params, g=g)
    return len(x) * dx, dparams


_BN_BODY = """\
x, g = jnp.asarray(x), jnp.asarray(g)
m = x.shape[0]
mu = x.mean(axis=0, keepdims=True)
s = jnp.sqrt(((x - mu) ** 2).mean(axis=0, keepdims=True) + epsilon)
xhat = (x - mu) / s
sum_g = g.sum(axis=0, keepdims=True)
sum_g_xhat = (g * xhat).sum(axis=0, keepdims=True)
dx = params.scale[None, :] / s * {bracket}
return dx, BatchNormParams(scale=sum_g_xhat[0], shift=sum_g[0])"""

BATCH_NORM = Exercise(
    name="batch-norm",
    chapter="batch_norm",
    solution="jaxdl.nn.batch_norm:batch_norm_backward",
    task="""
The backward pass of training-mode batch normalization (Algorithm 1) for a dense layer.

Each of the ``C`` channels of ``x`` ``[N, C]`` is normalised over the batch (``m = N`` values)::

    mu = mean(x)    var = mean((x - mu)**2)    s = sqrt(var + epsilon)
    xhat = (x - mu) / s    y = gamma * xhat + beta

(``gamma = params.scale``, ``beta = params.shift``, each ``[C]``). Given ``g = dL/dy``, return
``dL/dx`` and the parameters' gradients. Every ``x`` of a channel moves ``mu`` and ``var``,
and through them every ``y`` of that channel: three paths to add.

Args:
  x: ``[N, C]``.
  params: ``BatchNormParams(scale [C], shift [C])``.
  g: the upstream gradient ``[N, C]``.
  epsilon: added to the variance (keep the default).

Returns:
  ``(dx [N, C], BatchNormParams(scale=dL/dgamma [C], shift=dL/dbeta [C]))``.
""",
    imports=(
        "import jax.numpy as jnp\nfrom jax.typing import ArrayLike\n\n"
        "from jaxdl.nn.batch_norm import BatchNormParams"
    ),
    inputs=_bn_inputs,
    truth=_bn_truth,
    call=lambda function, inputs: function(inputs["x"], inputs["params"], inputs["g"]),
    returns=("dx", "dparams"),
    mistake=_BN_BODY.format(bracket="(m * g - sum_g - xhat * sum_g_xhat)  # 1/m?"),
    hints=(
        Hint(
            "your dx is m times too large (m = N, the values per channel): the compact "
            "formula's factor is gamma / (m s), from the 1/m of the mean and the variance",
            _bn_no_mean,
            _BN_BODY.format(bracket="(m * g - sum_g - xhat * sum_g_xhat)"),
        ),
        Hint(
            "your dx treats the batch mean and variance as constants (gamma g / s, evaluation "
            "mode's gradient): in training mode each x also moves mu and var, and through "
            "them every output of its channel",
            _jit(functools.partial(_bn_vjp, mean=False, var=False)),
        ),
        Hint(
            "your dx lacks the path through the batch mean: the '- sum g' term (each x moves "
            "mu by 1/m, and every xhat of its channel with it)",
            _jit(functools.partial(_bn_vjp, mean=False)),
            _BN_BODY.format(bracket="(m * g - xhat * sum_g_xhat) / m"),
        ),
        Hint(
            "your dx lacks the path through the batch variance: the '- xhat sum(g xhat)' term",
            _jit(functools.partial(_bn_vjp, var=False)),
        ),
    ),
)

# -------------------------------------------------------------- residual networks (2015)


def _block_draw(seed: int):
    """An identity-shortcut block (2 channels), its input ``[2, 4, 4, 2]`` and the upstream
    gradient, from ``seed`` (random draws keep ReLU inputs off their kink)."""
    from jaxdl.nn.batch_norm import BatchNormParams
    from jaxdl.nn.residual import BlockParams

    rng = np.random.default_rng(seed)
    shape, kernel = (2, 4, 4, 2), (3, 3, 2, 2)

    def norm():
        return BatchNormParams(1 + 0.3 * rng.normal(size=2), 0.3 * rng.normal(size=2))

    params = BlockParams(0.5 * rng.normal(size=kernel), norm(), 0.5 * rng.normal(size=kernel),
                         norm())  # fmt: skip
    return {"x": rng.normal(size=shape), "params": params, "g": rng.normal(size=shape)}


def _block_paths(x, params, *, plus_one=True, masked=True, bn_paths=True, relu_mask=True):
    """The identity-shortcut block with a path of its backward cut or altered (the same
    output): no +1 path, the shortcut not through the last ReLU's mask, batch norms whose
    statistics are constants, the first ReLU's slope taken as 1."""
    import jax
    import jax.numpy as jnp

    from jaxdl.activations import relu
    from jaxdl.nn.affine import conv2d

    keep = jax.lax.stop_gradient

    def conv(a, w):
        return conv2d(a, w, jnp.zeros(w.shape[-1:], w.dtype))

    def norm(a, p):
        return _bn_paths(a, p, mean=bn_paths, var=bn_paths)

    z1 = norm(conv(x, params.w1), params.bn1)
    h = relu(z1) if relu_mask else z1 + keep(relu(z1) - z1)
    z2 = norm(conv(h, params.w2), params.bn2)
    y = relu(z2 + (x if plus_one and masked else keep(x)))
    return y if masked or not plus_one else y + (x - keep(x))


def _block_vjp(x, params, g, **paths):
    import jax

    return jax.vjp(functools.partial(_block_paths, **paths), x, params)[1](g)


@_jit
def _block_truth(x, params, g):
    import jax

    from jaxdl.nn.residual import residual_block

    return jax.vjp(residual_block, x, params)[1](g)


_BLOCK_BODY = """\
zero = jnp.zeros(params.w1.shape[-1:])
a1 = conv2d(x, params.w1, zero)
z1 = batch_norm(a1, params.bn1, epsilon=epsilon)
h = relu(z1)
a2 = conv2d(h, params.w2, zero)
z2 = batch_norm(a2, params.bn2, epsilon=epsilon)
r = g * relu_grad(z2 + x)
da2, dbn2 = batch_norm_backward(a2, params.bn2, r, epsilon=epsilon)
dh, dw2, _ = conv2d_backward(h, params.w2, da2)
da1, dbn1 = batch_norm_backward(a1, params.bn1, dh * relu_grad(z1), epsilon=epsilon)
dx, dw1, _ = conv2d_backward(x, params.w1, da1)
return {dx}, BlockParams(dw1, dbn1, dw2, dbn2)"""

RESIDUAL = Exercise(
    name="residual-block",
    chapter="resnet",
    solution="jaxdl.nn.residual:residual_block_backward",
    task="""
The backward pass of a residual block with the identity shortcut (training mode).

For ``x`` ``[N, H, W, C]`` (the block keeps the shape; ``stride=1``, ``residual=True``)::

    a1 = conv2d(x, w1, 0)     z1 = batch_norm(a1, bn1)     h = relu(z1)
    a2 = conv2d(h, w2, 0)     z2 = batch_norm(a2, bn2)     y = relu(z2 + x)

with 3x3 'same' convolutions without bias. Given ``g = dL/dy``, return ``dL/dx`` and the
gradients of the block's parameters. ``conv2d_backward(x, w, g)`` gives ``(dx, dw, db)`` of a
convolution, ``batch_norm_backward(a, bn, g)`` gives ``(da, dbn)`` of a batch norm, and
``relu_grad(z)`` the ReLU's slope ``[z > 0]``. Mind where the sum sends its gradient.

Args:
  x: ``[N, H, W, C]``.
  params: ``BlockParams(w1 [3, 3, C, C], bn1, w2 [3, 3, C, C], bn2)``.
  g: the upstream gradient ``[N, H, W, C]``.
  stride, residual, epsilon: keep the defaults.

Returns:
  ``(dx [N, H, W, C], BlockParams(dw1, dbn1, dw2, dbn2))``.
""",
    imports=(
        "import jax.numpy as jnp\nfrom jax.typing import ArrayLike\n\n"
        "from jaxdl.activations import relu, relu_grad\n"
        "from jaxdl.nn.affine import conv2d, conv2d_backward\n"
        "from jaxdl.nn.batch_norm import batch_norm, batch_norm_backward\n"
        "from jaxdl.nn.residual import BlockParams"
    ),
    inputs=lambda: st.builds(_block_draw, st.integers(0, 2**20)),
    truth=_block_truth,
    call=lambda function, inputs: function(inputs["x"], inputs["params"], inputs["g"]),
    returns=("dx", "dparams"),
    mistake=_BLOCK_BODY.format(dx="dx"),
    hints=(
        Hint(
            "your dx lacks the shortcut's share: the sum z2 + x sends r = g [z2 + x > 0] "
            "down both branches, so dx = (the branch's dx) + r, the +1 path",
            _jit(functools.partial(_block_vjp, plus_one=False)),
            _BLOCK_BODY.format(dx="dx"),
        ),
        Hint(
            "your shortcut's share is g; it is r = g [z2 + x > 0]: the last ReLU comes after "
            "the sum, so its mask applies to both branches",
            _jit(functools.partial(_block_vjp, masked=False)),
            _BLOCK_BODY.format(dx="dx + g"),
        ),
        Hint(
            "your batch norms' backward treats the batch mean and variance as constants "
            "(gamma g / s): use the compact formula of the batch-norm chapter (batch_norm_backward)",
            _jit(functools.partial(_block_vjp, bn_paths=False)),
        ),
        Hint(
            "your dz1 lacks the first ReLU's slope: dz1 = dh [z1 > 0]",
            _jit(functools.partial(_block_vjp, relu_mask=False)),
        ),
    ),
)

# -------------------------------------------------------------------- the Transformer (2017)

_HEADS, _ATT_SHAPE = 2, (1, 4, 4)


def _attention_inputs():
    c = _ATT_SHAPE[-1]
    return st.fixed_dictionaries(
        {
            "x": _floats(_ATT_SHAPE, -1.5, 1.5),
            "w_qkv": _floats((c, 3 * c), -1.5, 1.5),
            "w_proj": _floats((c, c), -1.5, 1.5),
            "g": _floats(_ATT_SHAPE, -1.5, 1.5),
        }
    )


def _attention_paths(x, w_qkv, w_proj, *, normaliser=True, scale=True, proj=True):
    """Causal attention (``_HEADS`` heads) with a step of its backward altered, the output
    unchanged: the softmax's normaliser held constant (its ``- sum p dp`` term lost), the
    ``1/sqrt(D)`` left out of the backward, ``W_proj`` where its transpose belongs."""
    import jax
    import jax.numpy as jnp

    keep = jax.lax.stop_gradient
    b, t, c = x.shape
    d = c // _HEADS
    qkv = jnp.einsum("btc,cf->btf", x, w_qkv).reshape(b, t, 3, _HEADS, d)
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))
    raw = jnp.einsum("bhid,bhjd->bhij", q, k)
    s = raw / np.sqrt(d) if scale else raw + keep(raw / np.sqrt(d) - raw)
    s = jnp.where(jnp.tril(jnp.ones((t, t), bool))[None, None], s, -jnp.inf)
    e = jnp.exp(s - keep(jnp.max(s, axis=-1, keepdims=True)))
    total = jnp.sum(e, axis=-1, keepdims=True)
    p = e / (total if normaliser else keep(total))
    o = jnp.einsum("bhij,bhjd->bhid", p, v).transpose(0, 2, 1, 3).reshape(b, t, c)
    if proj:
        return jnp.einsum("btc,cf->btf", o, w_proj)
    swapped = jnp.einsum("btc,fc->btf", o, keep(w_proj))  # gradient to o: g W_proj
    return jnp.einsum("btc,cf->btf", keep(o), w_proj) + swapped - keep(swapped)


def _attention_vjp(x, w_qkv, w_proj, g, **paths):
    import jax

    return jax.vjp(functools.partial(_attention_paths, **paths), x, w_qkv, w_proj)[1](g)


@_jit
def _attention_truth(x, w_qkv, w_proj, g):
    import jax

    from jaxdl.nn.attention import causal_self_attention

    def forward(x, w_qkv, w_proj):
        return causal_self_attention(x, w_qkv, w_proj, _HEADS)

    return jax.vjp(forward, x, w_qkv, w_proj)[1](g)


_ATTENTION_BODY = """\
_, (x, q, k, v, p, o, w_qkv, w_proj) = attention_forward(x, w_qkv, w_proj, heads)
b, t, c = x.shape
d = c // heads


def merge(a):  # [B, H, T, D] -> [B, T, C]
    return a.transpose(0, 2, 1, 3).reshape(b, t, c)


dw_proj = o.reshape(-1, c).T @ g.reshape(-1, c)  # o is merged already
do = (g @ w_proj.T).reshape(b, t, heads, d).transpose(0, 2, 1, 3)
dp = do @ v.transpose(0, 1, 3, 2)
dv = p.transpose(0, 1, 3, 2) @ do
ds = {ds}
dq = ds @ k
dk = ds.transpose(0, 1, 3, 2) @ q
dqkv = jnp.concatenate([merge(dq), merge(dk), merge(dv)], axis=-1)
return dqkv @ w_qkv.T, x.reshape(-1, c).T @ dqkv.reshape(-1, 3 * c), dw_proj"""

ATTENTION = Exercise(
    name="attention-softmax",
    chapter="transformer",
    solution="jaxdl.nn.attention:causal_self_attention_backward",
    task="""
The backward pass of causal multi-head self-attention, its softmax step above all.

With ``H = heads`` heads of width ``D = C / H`` and no biases::

    q, k, v = split(x @ w_qkv)      each [B, H, T, D]
    s = q k^T / sqrt(D)             [B, H, T, T]
    s[i, j] = -inf where j > i      the causal mask
    p = softmax(s) over j
    o = p v                         [B, H, T, D]
    y = merge(o) @ w_proj           the heads side by side: [B, T, C]

``x @ w_qkv`` is ``[B, T, 3C]``: q, k and v in that order, each C wide, head ``h`` the
``h``-th D of them. ``attention_forward(x, w_qkv, w_proj, heads)`` returns
``(y, (x, q, k, v, p, o, w_qkv, w_proj))``: q, k, v ``[B, H, T, D]``, p ``[B, H, T, T]`` and
o already merged, ``[B, T, C]``. Given ``g = dL/dy``, go back step by step; the
softmax's step is ``dL/ds_ij = p_ij (dL/dp_ij - sum_k p_ik dL/dp_ik)``.

Args:
  x: ``[B, T, C]``.
  w_qkv: ``[C, 3C]``.
  w_proj: ``[C, C]``.
  heads: ``H`` (2 here).
  g: the upstream gradient ``[B, T, C]``.
  mask: keep the default (causal).

Returns:
  ``(dx [B, T, C], dw_qkv [C, 3C], dw_proj [C, C])``.
""",
    imports="import jax.numpy as jnp\nfrom jax.typing import ArrayLike\n\n"
    "from jaxdl.nn.attention import attention_forward",
    inputs=_attention_inputs,
    truth=_attention_truth,
    call=lambda function, inputs: function(
        inputs["x"], inputs["w_qkv"], inputs["w_proj"], _HEADS, inputs["g"]
    ),
    returns=("dx", "dw_qkv", "dw_proj"),
    mistake=_ATTENTION_BODY.format(ds="p * dp / jnp.sqrt(d)  # the softmax's step?"),
    hints=(
        Hint(
            "your softmax step lacks its '- sum_k p_ik dL/dp_ik' term: each p_ij depends on "
            "every s_ik of its row through the normaliser, not on s_ij alone",
            _jit(functools.partial(_attention_vjp, normaliser=False)),
            _ATTENTION_BODY.format(ds="p * dp / jnp.sqrt(d)"),
        ),
        Hint(
            "your dq and dk are sqrt(D) times too large: s = q k^T / sqrt(D), so the 1/sqrt(D) "
            "comes back in the backward pass",
            _jit(functools.partial(_attention_vjp, scale=False)),
            _ATTENTION_BODY.format(ds="p * (dp - (p * dp).sum(-1, keepdims=True))"),
        ),
        Hint(
            "a transposed weight: y = merge(o) W_proj gives dL/d merge(o) = g W_proj^T, "
            "not g W_proj",
            _jit(functools.partial(_attention_vjp, proj=False)),
            _ATTENTION_BODY.format(
                ds="p * (dp - (p * dp).sum(-1, keepdims=True)) / jnp.sqrt(d)"
            ).replace("g @ w_proj.T", "g @ w_proj"),
        ),
    ),
)

# ----------------------------------------------------------------- layer norm (Transformer)

_LN_SHAPE = (3, 5)


def _ln_paths(x, w, *, mean=True, rstd=True):
    """Layer norm with the path through the mean or through ``r`` cut (the same output)."""
    import jax
    import jax.numpy as jnp

    from jaxdl.nn.layer_norm import EPS

    keep = jax.lax.stop_gradient
    mu = jnp.mean(x, axis=-1, keepdims=True)
    centred = x - (mu if mean else keep(mu))
    r = 1 / jnp.sqrt(jnp.mean(centred**2, axis=-1, keepdims=True) + EPS)
    return centred * (r if rstd else keep(r)) * w.reshape(1, -1)


def _ln_vjp(x, w, g, **paths):
    import jax

    return jax.vjp(functools.partial(_ln_paths, **paths), x, w)[1](g)


@_jit
def _ln_truth(x, w, g):
    import jax

    from jaxdl.nn.layer_norm import layer_norm

    return jax.vjp(layer_norm, x, w)[1](g)


@_jit
def _ln_no_gain(x, w, g):
    import jax.numpy as jnp

    dx = _ln_vjp(x, jnp.ones_like(w), g)[0]
    return dx, _ln_truth(x=x, w=w, g=g)[1]


@_jit
def _ln_sums(x, w, g):
    import jax.numpy as jnp

    from jaxdl.nn.layer_norm import normalise

    xhat, r = normalise(x)
    d = g * w.reshape(1, -1)
    sums = jnp.sum(d, axis=-1, keepdims=True), jnp.sum(d * xhat, axis=-1, keepdims=True)
    return r * (d - sums[0] - xhat * sums[1]), jnp.sum(g * xhat, axis=0)


_LN_BODY = """\
x, w, g = jnp.asarray(x), jnp.asarray(w), jnp.asarray(g)
mu = x.mean(axis=-1, keepdims=True)
r = 1 / jnp.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + EPS)
xhat = (x - mu) * r
d = {d}
dx = r * {bracket}
return dx, (g * xhat).sum(axis=0)"""

LAYER_NORM = Exercise(
    name="layer-norm",
    chapter="transformer",
    solution="jaxdl.nn.layer_norm:layer_norm_backward",
    task="""
The backward pass of layer normalisation without a bias (GPT-2's), over the last axis.

For each row of ``C`` features (``EPS = 1e-5``)::

    mu = mean(x)    r = 1 / sqrt(mean((x - mu)**2) + EPS)    xhat = (x - mu) * r
    y = xhat * w

Given ``g = dL/dy``, return ``dL/dx`` and ``dL/dw`` (summed over the rows). Every ``x`` of a
row moves ``mu`` and ``r``, and through them every ``y`` of that row.

Args:
  x: ``[N, C]``.
  w: the gain ``[C]``.
  g: the upstream gradient ``[N, C]``.

Returns:
  ``(dx [N, C], dw [C])``.
""",
    imports=(
        "import jax.numpy as jnp\nfrom jax.typing import ArrayLike\n\n"
        "from jaxdl.nn.layer_norm import EPS"
    ),
    inputs=lambda: st.fixed_dictionaries(
        {
            "x": _floats(_LN_SHAPE, -3.0, 3.0),
            "w": _floats(_LN_SHAPE[-1:], -2.0, 2.0),
            "g": _floats(_LN_SHAPE, -2.0, 2.0),
        }
    ),
    truth=_ln_truth,
    returns=("dx", "dw"),
    mistake=_LN_BODY.format(d="g * w[None, :]", bracket="(d - d.mean(-1, keepdims=True))  # r?"),
    hints=(
        Hint(
            "your dx lacks the path through r: the '- xhat_j mean(d * xhat)' term (each x_j "
            "moves the row's variance, so r, so every xhat of the row)",
            _jit(functools.partial(_ln_vjp, rstd=False)),
            _LN_BODY.format(d="g * w[None, :]", bracket="(d - d.mean(-1, keepdims=True))"),
        ),
        Hint(
            "your dx lacks the path through the mean: the '- mean(d)' term",
            _jit(functools.partial(_ln_vjp, mean=False)),
        ),
        Hint(
            "your dx uses sums over the C features where the formula has means: a missing 1/C",
            _ln_sums,
            _LN_BODY.format(
                d="g * w[None, :]",
                bracket="(d - d.sum(-1, keepdims=True) - xhat * (d * xhat).sum(-1, keepdims=True))",
            ),
        ),
        Hint(
            "your dx forgets the gain: dL/dxhat is d = g * w, not g",
            _ln_no_gain,
        ),
    ),
)


#: Every exercise, in the order of the chapters that teach them.
EXERCISES: tuple[Exercise, ...] = (
    DEBYE,
    MSE,
    TRASK,
    SIGMOID,
    SOFTMAX,
    ZIP_CURVATURE,
    MAX_POOL,
    LSTM,
    BATCH_NORM,
    RESIDUAL,
    LAYER_NORM,
    ATTENTION,
    GAUSSIAN_KL,
)
