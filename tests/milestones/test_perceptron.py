import itertools
import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from jax.test_util import check_grads

from jaxdl.cli import main
from jaxdl.milestones import perceptron as pc
from tests.scripts import load_script
from tests.strategies import finite_floats, float_arrays

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------
# The model and the rule, by hand


def test_gates_with_bias_input():
    data = pc.gate_data("or")
    np.testing.assert_array_equal(data.inputs, [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    np.testing.assert_array_equal(data.targets, [0, 1, 1, 1])
    np.testing.assert_array_equal(pc.gate_data("and").targets, [0, 0, 0, 1])
    np.testing.assert_array_equal(pc.gate_data("xor").targets, [0, 1, 1, 0])


def test_step_fires_at_zero_like_the_seed():
    # Seed: 1_or_0 = lambda x: 0 if x < 0 else 1
    x = jnp.asarray([[1.0, 0.0, 1.0]])
    np.testing.assert_array_equal(pc.predict(jnp.asarray([1.0, 5.0, -1.0]), x), [1.0])
    np.testing.assert_array_equal(pc.predict(jnp.asarray([1.0, 5.0, -1.001]), x), [0.0])


def test_update_by_hand():
    x = jnp.asarray([1.0, 0.0, 1.0])
    w = jnp.asarray([0.5, 0.5, -1.0])  # w . x = -0.5: predicts 0
    new, error = pc.update(w, x, 1, 0.2)  # wrong: error +1, w += 0.2 x
    np.testing.assert_allclose(new, [0.7, 0.5, -0.8], rtol=1e-15)
    assert float(error) == 1.0
    new, error = pc.update(w, x, 0, 0.2)  # right: no change
    np.testing.assert_array_equal(new, w)
    assert float(error) == 0.0
    new, error = pc.update(jnp.zeros(3), x, 0, 0.2)  # sum 0 fires 1 -> error -1
    np.testing.assert_allclose(new, [-0.2, 0.0, -0.2], rtol=1e-15)
    assert float(error) == -1.0


def test_scan_matches_the_seeds_python_loop():
    data = pc.gate_data("or")
    start = pc.init_weights(key=jax.random.key(3))
    trace = pc.train(start, data.inputs, data.targets, key=jax.random.key(4), steps=100)
    assert trace.path.shape == (101, 3) and trace.errors.shape == (100,)
    # The seed's loop in plain NumPy float64, fed the same picks.
    weights = np.asarray(start, dtype=np.float64).copy()
    inputs, truths = np.asarray(data.inputs), np.asarray(data.targets)
    for step, i in enumerate(np.asarray(trace.picks)):
        result = np.dot(weights, inputs[i])
        error = truths[i] - (0 if result < 0 else 1)
        assert error == int(trace.errors[step])
        weights += 0.2 * error * inputs[i]
        np.testing.assert_allclose(trace.path[step + 1], weights, rtol=1e-15, atol=1e-15)
    assert trace.mistakes == int(np.sum(np.asarray(trace.errors) != 0))


def test_init_is_uniform_in_unit_interval_and_keyed():
    w = pc.init_weights(key=jax.random.key(0))
    assert w.shape == (3,) and bool(jnp.all((w >= 0) & (w < 1)))
    np.testing.assert_array_equal(w, pc.init_weights(key=jax.random.key(0)))
    assert not np.array_equal(w, pc.init_weights(key=jax.random.key(1)))


# ------------------------------------------------------------------------------------------
# The seed's experiment: OR (and AND) learned, XOR not


@pytest.mark.parametrize("gate", ["or", "and"])
def test_seed_setup_learns_or_and_and(gate):
    report = pc.run(pc.Config(gate=gate))
    result = report.result
    assert result["converged"] is True and result["accuracy"] == 1.0
    np.testing.assert_array_equal(result["predictions"], pc.GATE_TARGETS[gate])
    assert result["epoch_training"]["converged"] is True
    assert report.checks and report.checks_passed


def test_seed_setup_learns_or_for_most_seeds():
    # 100 random picks from a random start is enough for OR almost always.
    data = pc.gate_data("or")
    learned = 0
    for seed in range(20):
        k1, k2, _ = jax.random.split(jax.random.key(seed), 3)
        trace = pc.train(pc.init_weights(key=k1), data.inputs, data.targets, key=k2)
        learned += float(pc.accuracy(trace.weights, data.inputs, data.targets)) == 1.0
    assert learned >= 18


def test_xor_run_reports_not_converged():
    report = pc.run(pc.Config(gate="xor", max_epochs=50))
    result = report.result
    assert result["converged"] is False and result["accuracy"] <= 0.75
    epochs = result["epoch_training"]
    assert epochs["converged"] is False and epochs["epochs"] == 50
    assert epochs["mistakes"] >= 50  # at least one mistake every pass
    assert "not converged" in report.headline


def test_exactly_fourteen_of_sixteen_boolean_functions_are_learned():
    inputs = pc.add_bias(pc.GATE_INPUTS)
    failed = []
    for targets in itertools.product((0, 1), repeat=4):
        result = pc.train_until_converged(jnp.zeros(3), inputs, targets, max_epochs=200)
        if bool(result.converged):
            assert float(pc.accuracy(result.weights, inputs, targets)) == 1.0
        else:
            assert int(result.epochs) == 200 and int(result.last_epoch_mistakes) > 0
            failed.append(targets)
    assert failed == [(0, 1, 1, 0), (1, 0, 0, 1)]  # XOR and XNOR


# ------------------------------------------------------------------------------------------
# Properties: Novikoff's bound, and XOR's impossibility


def _separable_data(seed: int, dim: int, gamma: float, n: int = 24):
    """Points in [-1, 1]**dim labelled by a random unit vector u, rejecting |u . x| < gamma.

    Half of the points are kept from the band gamma <= |u . x| <= 2 gamma, so that the
    perceptron has to work (several passes, tens of mistakes in 5 dimensions).
    """
    rng = np.random.default_rng(seed)
    u = rng.normal(size=dim)
    u /= np.linalg.norm(u)
    near, far = np.empty((0, dim)), np.empty((0, dim))
    while len(near) < n // 2 or len(far) < n - n // 2:
        candidates = rng.uniform(-1.0, 1.0, size=(4 * n, dim))
        distance = np.abs(candidates @ u)
        near = np.concatenate([near, candidates[(distance >= gamma) & (distance <= 2 * gamma)]])
        far = np.concatenate([far, candidates[distance >= gamma]])
    points = np.concatenate([near[: n // 2], far[: n - n // 2]])
    return points, (points @ u > 0).astype(int), u


@given(
    seed=st.integers(0, 2**32 - 1),
    dim=st.sampled_from([2, 5]),
    gamma=st.floats(0.05, 0.4),
    learning_rate=st.floats(0.01, 2.0),
)
def test_novikoff_mistake_bound(seed, dim, gamma, learning_rate):
    inputs, targets, u = _separable_data(seed, dim, gamma)
    margin = np.min(np.abs(inputs @ u))  # the data's actual margin under u, >= gamma
    radius = np.max(np.linalg.norm(inputs, axis=1))
    bound = (radius / margin) ** 2
    result = pc.train_until_converged(
        jnp.zeros(dim),
        inputs,
        targets,
        learning_rate=learning_rate,
        max_epochs=math.floor(bound) + 2,  # a pass without mistakes comes by then
    )
    assert bool(result.converged)
    assert int(result.mistakes) <= bound
    assert float(pc.accuracy(result.weights, inputs, targets)) == 1.0


@given(weights=float_arrays((3,)))
def test_no_weights_classify_xor(weights):
    data = pc.gate_data("xor")
    assert float(pc.accuracy(weights, data.inputs, data.targets)) <= 0.75
    # Why: the four conditions contradict each other (see the module docstring).
    w1, w2, w3 = weights
    conditions = [w3 < 0, w2 + w3 >= 0, w1 + w3 >= 0, w1 + w2 + w3 < 0]
    assert not all(conditions)


@given(
    start=float_arrays((3,)),
    learning_rate=finite_floats(0.01, 2.0),
    seed=st.integers(0, 2**31 - 1),
    max_epochs=st.integers(1, 300),
)
def test_no_start_and_no_number_of_steps_learns_xor(start, learning_rate, seed, max_epochs):
    data = pc.gate_data("xor")
    trace = pc.train(
        start,
        data.inputs,
        data.targets,
        key=jax.random.key(seed),
        learning_rate=learning_rate,
        steps=200,
    )
    along_the_way = jax.vmap(pc.accuracy, in_axes=(0, None, None))(
        trace.path, data.inputs, data.targets
    )
    assert float(jnp.max(along_the_way)) <= 0.75  # after 0, 1, ..., 200 steps
    result = pc.train_until_converged(
        start, data.inputs, data.targets, learning_rate=learning_rate, max_epochs=max_epochs
    )
    assert not bool(result.converged)
    assert int(result.epochs) == max_epochs and int(result.last_epoch_mistakes) > 0


# ------------------------------------------------------------------------------------------
# The link to gradients: Rosenblatt's rule is SGD on the perceptron criterion


@given(
    w=float_arrays((3,), -5, 5),
    x=float_arrays((3,), -5, 5),
    target=st.sampled_from([0, 1]),
    learning_rate=finite_floats(0.01, 2.0),
)
def test_update_is_minus_lr_times_criterion_gradient(w, x, target, learning_rate):
    w, x = jnp.asarray(w), jnp.asarray(x)
    y = pc.signed_labels(target)
    assume(abs(float(w @ x)) > 1e-3)  # off the kink w . x = 0

    def criterion(v):
        return pc.perceptron_criterion(v, x[None, :], y[None])

    auto = jax.grad(criterion)(w)
    hand = pc.perceptron_criterion_grad(w, x[None, :], y[None])
    np.testing.assert_allclose(hand, auto, rtol=1e-10, atol=1e-12)
    check_grads(criterion, (w,), order=1, modes=["rev"], eps=1e-6)
    new, error = pc.update(w, x, target, learning_rate)
    np.testing.assert_allclose(new - w, -learning_rate * auto, rtol=1e-10, atol=1e-12)
    misclassified = float(y * (w @ x)) < 0
    assert (float(error) != 0) == misclassified
    if misclassified:
        assert float(error) == float(y)  # error = t - prediction = y on a mistake


@given(seed=st.integers(0, 2**31 - 1))
def test_batch_criterion_gradient_and_batch_rule(seed):
    w, x, y = pc._off_the_kink(jax.random.key(seed), 16, 3)
    assert float(jnp.min(jnp.abs(x @ w))) >= 0.5 * float(jnp.linalg.norm(w)) - 1e-12

    def criterion(v):
        return pc.perceptron_criterion(v, x, y)

    auto = jax.grad(criterion)(w)
    np.testing.assert_allclose(pc.perceptron_criterion_grad(w, x, y), auto, rtol=1e-10)
    check_grads(criterion, (w,), order=1, modes=["rev"], eps=1e-6)
    t = (y + 1) // 2
    np.testing.assert_allclose(pc.batch_update(w, x, t, 0.2), w - 0.2 * auto, rtol=1e-10)


def test_training_path_is_sgd_on_the_criterion():
    data = pc.gate_data("xor")  # many mistakes: many non-zero steps
    trace = pc.train(
        pc.init_weights(key=jax.random.key(1)), data.inputs, data.targets, key=jax.random.key(2)
    )
    x = data.inputs[trace.picks]  # [steps, 3]
    y = pc.signed_labels(data.targets[trace.picks])  # [steps]
    before = trace.path[:-1]
    assert float(jnp.min(jnp.abs(jnp.sum(before * x, axis=1)))) > 1e-9  # off the kink
    grads = jax.vmap(jax.grad(lambda w, xi, yi: pc.perceptron_criterion(w, xi[None], yi[None])))(
        before, x, y
    )
    np.testing.assert_allclose(trace.path[1:], before - 0.2 * grads, rtol=1e-12, atol=1e-12)


def test_gradient_checks_pass_and_are_nontrivial():
    checks = pc.gradient_checks(key=jax.random.key(0))
    assert [c.name for c in checks] == [
        "perceptron: criterion gradient",
        "perceptron: update = -lr * gradient",
    ]
    assert all(c.passed for c in checks)
    w, x, y = pc._off_the_kink(jax.random.key(0), 16, 3)
    assert float(jnp.linalg.norm(pc.perceptron_criterion_grad(w, x, y))) > 0.1


def test_gradient_checks_can_fail():
    # A wrong sign in the hand gradient must be caught.
    from jaxdl.gradcheck import check_gradient

    w, x, y = pc._off_the_kink(jax.random.key(0), 16, 3)
    bad = check_gradient(
        "wrong sign",
        lambda v: pc.perceptron_criterion(v, x, y),
        lambda v: -pc.perceptron_criterion_grad(v, x, y),
        w,
    )
    assert not bad.passed


def test_training_compiles_once_per_shape():
    data = pc.gate_data("and")
    pc.train_until_converged(jnp.zeros(3), data.inputs, data.targets, max_epochs=3)
    pc.train(jnp.zeros(3), data.inputs, data.targets, key=jax.random.key(0), steps=17)
    epochs_cache, train_cache = pc._train_epochs._cache_size(), pc._train._cache_size()
    for lr, cap, seed in [(0.1, 5, 1), (0.7, 40, 2)]:
        pc.train_until_converged(
            jnp.ones(3), data.inputs, data.targets, learning_rate=lr, max_epochs=cap
        )
        pc.train(
            jnp.ones(3),
            data.inputs,
            data.targets,
            key=jax.random.key(seed),
            learning_rate=lr,
            steps=17,
        )
    assert pc._train_epochs._cache_size() == epochs_cache
    assert pc._train._cache_size() == train_cache


# ------------------------------------------------------------------------------------------
# Bad input: one ValueError each

GOOD = dict(weights=jnp.zeros(3), inputs=pc.gate_data("or").inputs, targets=[0, 1, 1, 1])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(targets=[0, 1, 2, 1]), "0 or 1"),
        (dict(targets=[0.0, 0.5, 1.0, 1.0]), "0 or 1"),
        (dict(targets=[-1, 1, 1, 1]), "0 or 1"),
        (dict(targets=[0, 1, 1]), r"targets must have shape \[N\]"),
        (dict(targets=[[0, 1, 1, 1]]), r"targets must have shape \[N\]"),
        (dict(inputs=jnp.zeros(3)), r"inputs must have shape \[N, D\]"),
        (dict(inputs=jnp.zeros((0, 3)), targets=[]), "N >= 1"),
        (dict(weights=jnp.zeros(2)), r"weights must have shape \[D\]"),
        (dict(weights=jnp.zeros((3, 1))), r"weights must have shape \[D\]"),
        (dict(weights=jnp.asarray([0.0, jnp.nan, 0.0])), "finite"),
        (dict(inputs=pc.gate_data("or").inputs.at[0, 0].set(jnp.inf)), "finite"),
    ],
)
def test_bad_data(change, message):
    args = GOOD | change
    with pytest.raises(ValueError, match=message):
        pc.train(args["weights"], args["inputs"], args["targets"], key=jax.random.key(0))
    with pytest.raises(ValueError, match=message):
        pc.train_until_converged(args["weights"], args["inputs"], args["targets"])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (dict(learning_rate=0.0), "learning rate must be positive"),
        (dict(learning_rate=-0.2), "learning rate must be positive"),
        (dict(learning_rate=float("nan")), "learning rate must be a finite"),
        (dict(steps=0), "steps must be a positive integer"),
        (dict(steps=-3), "steps must be a positive integer"),
    ],
)
def test_bad_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        pc.train(
            GOOD["weights"], GOOD["inputs"], GOOD["targets"], key=jax.random.key(0), **settings
        )


@pytest.mark.parametrize("max_epochs", [0, -1, 2.5])
def test_bad_epoch_cap(max_epochs):
    with pytest.raises(ValueError, match="max_epochs must be a positive integer"):
        pc.train_until_converged(**GOOD, max_epochs=max_epochs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(gate="nand"),
        dict(steps=0),
        dict(learning_rate=0.0),
        dict(learning_rate=float("inf")),
        dict(max_epochs=0),
        dict(seed=1.5),
    ],
)
def test_bad_config(kwargs):
    with pytest.raises(ValueError):
        pc.Config(**kwargs)


def test_unknown_gate():
    with pytest.raises(ValueError, match="unknown gate 'nand'"):
        pc.gate_data("nand")


# ------------------------------------------------------------------------------------------
# Command line, plot and demo


@pytest.mark.parametrize(("gate", "converged"), [("or", True), ("xor", False)])
def test_cli_json_and_plot(gate, converged, tmp_path, capsys):
    plot = tmp_path / f"{gate}.png"
    assert main(["run", "perceptron", "--gate", gate, "--json", "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["milestone"] == "perceptron"
    assert out["config"] == {
        "gate": gate,
        "steps": 100,
        "learning_rate": 0.2,
        "seed": 0,
        "max_epochs": 100,
    }
    result = out["result"]
    assert len(result["weights"]) == 3 and result["converged"] is converged
    assert result["accuracy"] == (1.0 if converged else result["accuracy"])
    assert converged or result["accuracy"] <= 0.75
    assert result["mistakes"] == sum(e != 0 for e in result["errors"])
    assert out["checks"] and all(c["passed"] for c in out["checks"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_title_says_whether_it_converged():
    for gate, verdict in [("and", "converged"), ("xor", "not converged")]:
        fig = pc.plot(pc.run(pc.Config(gate=gate, max_epochs=5)))
        title = fig.axes[0].get_title()
        assert title.startswith(f"Perceptron on {gate.upper()}: {verdict}")


def test_cli_options(capsys):
    assert (
        main(
            [
                "run",
                "perceptron",
                "--gate",
                "and",
                "--steps",
                "7",
                "--lr",
                "0.5",
                "--seed",
                "3",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["steps"] == 7 and out["config"]["seed"] == 3
    assert len(out["result"]["errors"]) == 7


@pytest.mark.parametrize(
    "args",
    [["--lr", "0"], ["--lr", "-1"], ["--lr", "nan"], ["--steps", "0"], ["--max-epochs", "0"]],
)
def test_cli_bad_arguments_exit_2(args, capsys):
    assert main(["run", "perceptron", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxdl: error:") and err.count("\n") == 1


def test_cli_unknown_gate_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "perceptron", "--gate", "nand"])
    assert info.value.code == 2
    assert "invalid choice: 'nand'" in capsys.readouterr().err


def test_demo_prints_or_then_xor_failure(capsys):
    demo = load_script("demos", "perceptron")
    demo.main()
    out = capsys.readouterr().out
    or_part, xor_part = out.split("XOR after")
    lines = [line for line in or_part.splitlines() if line.startswith("[")]
    assert [line.split(": ")[0] for line in lines] == ["[0 0]", "[0 1]", "[1 0]", "[1 1]"]
    assert [line.rsplit(" -> ", 1)[1] for line in lines] == ["0", "1", "1", "1"]
    for line in lines:  # the weighted sum is printed and agrees with the prediction
        s = float(line.split(": ")[1].split(" -> ")[0])
        assert (s >= 0) == line.endswith("1")
    assert "epoch training: converged" in or_part
    xor_outputs = [
        line.rsplit(" -> ", 1)[1] for line in xor_part.splitlines() if line.startswith("[")
    ]
    assert len(xor_outputs) == 4 and xor_outputs != ["0", "1", "1", "0"]
    assert "not converged after 1000 passes" in xor_part
