"""The Adam chapter: every hand-written rule gives optax's own updates over Hypothesis-drawn
gradient sequences and hyper-parameters (bitwise: the arithmetic is the same, in the same
order); Adam's bias correction; Reddi et al.'s counterexample; Figure 1 and --paper in
miniature; the CLI and the demo."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxdl.cli import main
from jaxdl.milestones import adam as chapter
from tests.scripts import load_script
from tests.strategies import float_arrays

STEPS = 6


def _hyper(name: str):
    """A strategy of the rule's own hyper-parameters (besides the step size)."""
    unit = st.floats(0.0, 0.99)
    if name in ("heavy_ball", "nesterov"):
        return st.fixed_dictionaries({"momentum": unit})
    if name == "adagrad":
        return st.fixed_dictionaries(
            {"initial_accumulator_value": st.floats(0.0, 1.0), "eps": st.floats(1e-10, 1e-3)}
        )
    if name == "rmsprop":
        return st.fixed_dictionaries({"decay": unit, "eps": st.floats(1e-10, 1e-3)})
    adam_like = {"b1": unit, "b2": st.floats(0.5, 0.9999), "eps": st.floats(1e-10, 1e-3)}
    if name == "adamw":
        adam_like["weight_decay"] = st.floats(1e-5, 0.5)
    return st.fixed_dictionaries(adam_like)


def _updates(rule: optax.GradientTransformation, params, grads):
    """Apply ``rule`` to the gradient sequence ``grads`` (leaves ``[T, ...]``), eagerly."""
    state = rule.init(params)
    steps = []
    for t in range(STEPS):
        g = jax.tree.map(lambda a, t=t: a[t], grads)
        updates, state = rule.update(g, state, params)
        params = optax.apply_updates(params, updates)
        steps.append(updates)
    return steps


@pytest.mark.parametrize("name", list(chapter.OPTAX_TWINS))
@given(data=st.data())
def test_each_rule_gives_optax_s_updates_bitwise(name, data):
    ours, theirs = chapter.OPTAX_TWINS[name]
    hyper = data.draw(_hyper(name), label="hyper-parameters")
    alpha = data.draw(st.floats(1e-4, 1.0), label="alpha")
    decayed = data.draw(st.booleans(), label="alpha / sqrt(t)")
    rate = chapter.inverse_sqrt_decay(alpha) if decayed else alpha
    params = {
        "w": jnp.asarray(data.draw(float_arrays((3,), -2, 2), label="w")),
        "b": jnp.asarray(data.draw(float_arrays((2, 2), -2, 2), label="b")),
    }
    grads = {
        "w": jnp.asarray(data.draw(float_arrays((STEPS, 3)), label="grads w")),
        "b": jnp.asarray(data.draw(float_arrays((STEPS, 2, 2)), label="grads b")),
    }
    mine = _updates(ours(rate, **hyper), params, grads)
    reference = _updates(theirs(rate, **hyper), params, grads)
    for t, (a, b) in enumerate(zip(mine, reference, strict=True)):
        for leaf_a, leaf_b in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
            np.testing.assert_array_equal(leaf_a, leaf_b, err_msg=f"{name}, step {t + 1}")


def test_rules_match_optax_under_jit_within_rounding():
    """Compiled in one lax.scan, XLA may fuse the two differently: within 1e-13."""
    params = jnp.linspace(-1.0, 1.0, 5)
    grads = jax.random.normal(jax.random.key(0), (50, 5))

    def path(rule):
        def step(carry, g):
            p, s = carry
            u, s = rule.update(g, s, p)
            return (p + u, s), p + u

        return jax.jit(lambda: jax.lax.scan(step, (params, rule.init(params)), grads)[1])()

    for name, (ours, theirs) in chapter.OPTAX_TWINS.items():
        np.testing.assert_allclose(
            path(ours(0.01)), path(theirs(0.01)), rtol=1e-13, atol=0, err_msg=name
        )


def test_bias_correction_makes_a_constant_gradient_its_own_average():
    g = jnp.array([0.5, -2.0, 0.01])
    rule = chapter.adam(0.1)
    state = rule.init(g)
    for _ in range(5):
        step, state = rule.update(g, state)
        # m_hat = g and v_hat = g**2 exactly (up to rounding): the step is -lr sign(g)
        np.testing.assert_allclose(step, -0.1 * g / (jnp.abs(g) + 1e-8), rtol=1e-12)
    raw = chapter.adam(0.1, bias_correction=False)
    step, _ = raw.update(g, raw.init(g))
    # uncorrected, the first step is (1 - b1) / sqrt(1 - b2) = 3.16 times larger
    np.testing.assert_allclose(step, -0.1 * 0.1 / np.sqrt(0.001) * np.sign(g), rtol=1e-4)


def test_adamw_refuses_to_decay_without_the_parameters():
    rule = chapter.adamw(0.1)
    g = jnp.ones(3)
    with pytest.raises(ValueError, match="parameters"):
        rule.update(g, rule.init(g))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_rules_refuse_a_bad_step_size(bad):
    for ours, _ in chapter.OPTAX_TWINS.values():
        with pytest.raises(ValueError, match="learning rate"):
            ours(bad)


def test_reddi_counterexample_adam_goes_wrong_amsgrad_does_not():
    adam_path = chapter.reddi_problem("adam")
    amsgrad_path = chapter.reddi_problem("amsgrad")
    assert adam_path.shape == (3001,) and adam_path[0] == 0.0
    assert adam_path[-1] > 0.99  # the worst point of [-1, 1]
    assert amsgrad_path[-1] < -0.99  # the best
    with pytest.raises(ValueError, match="C must exceed 2"):
        chapter.reddi_problem("adam", c=2.0)
    with pytest.raises(ValueError, match="adam or amsgrad"):
        chapter.reddi_problem("sgd")


def test_passes_feed_gives_the_trainer_s_shuffled_epochs():
    from jaxdl.training import trainer

    data = chapter.Batch(jnp.arange(40.0).reshape(20, 2), jnp.arange(20, dtype=jnp.int32))
    keys = jax.random.split(jax.random.key(1), 3)
    ours, steps = chapter.passes_feed(data, batch_size=6, keys=keys)
    theirs, steps_theirs = trainer.shuffled_epochs(data, batch_size=6, keys=keys)
    assert steps == steps_theirs == 3
    a, b = ours.state, theirs.state
    for _ in range(9):
        a, batch_a = jax.jit(ours.next)(a)
        b, batch_b = jax.jit(theirs.next)(b)
        np.testing.assert_array_equal(batch_a.y, batch_b.y)


@pytest.fixture(scope="module")
def report():
    return chapter.run(chapter.Config(passes=3, paper=True, mlp_passes=1, hidden=16))


def test_figure_1_and_2_in_miniature(report, tmp_path):
    result = report.result
    assert result["train_size"] == 8000 and result["passes"] == 3
    assert set(result["figure_1"]) == {"adam", "adagrad", "sgd_nesterov"}
    for row in result["figure_1"].values():
        assert row["final_cost"] < row["first_pass_cost"] < np.log(10) + 0.5
        assert row["test_accuracy"] > 0.8
    assert set(result["figure_2a"]) == {"adam", "adagrad", "rmsprop", "sgd_nesterov"}
    for row in result["figure_2a"].values():  # one pass of a 16-unit net: shapes only
        assert np.isfinite(row["final_cost"]) and 0 <= row["test_accuracy"] <= 1
    assert result["reddi_final_x"]["adam"] > 0.99 and result["reddi_final_x"]["amsgrad"] < -0.99
    json.dumps(report.as_json())
    from jaxdl.plotting import save_figure

    fig = chapter.plot(report)
    assert len(fig.axes) == 3
    assert save_figure(fig, tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"


def test_hand_rules_drive_the_training():
    from jaxdl.milestones import all_gradient_checks  # noqa: F401  (the registry runs these)

    for check in chapter.gradient_checks(key=jax.random.key(0)):
        assert check.passed, check


@pytest.mark.parametrize("bad", [dict(passes=0), dict(hidden=0), dict(mlp_passes=0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        chapter.Config(**bad)


def test_cli_json(capsys):
    assert main(["run", "adam", "--passes", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["milestone"] == "adam" and out["result"]["figure_2a"] is None
    adam = out["result"]["figure_1"]["adam"]
    assert adam["final_cost"] < adam["first_pass_cost"]


def test_demo_prints_the_table(capsys):
    load_script("demos", "adam").main(["--passes", "3"])
    out = capsys.readouterr().out
    assert "Adam" in out and "AdaGrad" in out and "SGD Nesterov" in out and "AMSGrad" in out
