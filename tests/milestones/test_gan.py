"""The GAN chapter: both generator losses' hand backward through D into G and the
discriminator's, against jax.grad in float64 (Hypothesis), the custom_vjp rules that train,
the alternating optimizer, the minimax loss's vanishing gradient, the Parzen estimate on cases
computed by hand, the run in miniature, the CLI and the demo."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxdl.cli import main
from jaxdl.milestones import gan as chapter
from tests.scripts import load_script
from tests.strategies import float_arrays
from tests.trees import assert_trees_match


def _net(seed: int, scale: float):
    net = chapter.init_gan(jax.random.key(seed), hidden=5, latent=3, dtype=jnp.float64)
    return jax.tree.map(lambda p: scale * p + 0.01, net)


@pytest.mark.parametrize("kind", ["non_saturating", "minimax"])
@given(seed=st.integers(0, 2**16), scale=st.floats(0.2, 3.0), z=float_arrays((4, 3), -1, 1))
def test_generator_backward_through_d_is_jax_grad(kind, seed, scale, z):
    net, z = _net(seed, scale), jnp.asarray(z)
    auto = jax.grad(chapter.generator_loss)(net.g, net.d, z, kind)
    assert_trees_match(
        chapter.generator_loss_grad(net.g, net.d, z, kind), auto, rtol=1e-10, atol=1e-12
    )
    rule = jax.grad(chapter.GENERATOR_LOSSES_HAND[kind])(net.g, net.d, z)
    assert_trees_match(rule, auto, rtol=1e-10, atol=1e-12)


@given(seed=st.integers(0, 2**16), scale=st.floats(0.2, 3.0), z=float_arrays((4, 3), -1, 1))
def test_discriminator_backward_is_jax_grad(seed, scale, z):
    net = _net(seed, scale)
    fake = chapter.generate(net.g, jnp.asarray(z))
    real = jax.random.uniform(jax.random.key(seed + 1), (4, 784), jnp.float64)
    auto = jax.grad(chapter.discriminator_loss)(net.d, fake, real)
    assert_trees_match(
        chapter.discriminator_loss_grad(net.d, fake, real), auto, rtol=1e-10, atol=1e-12
    )
    rule = jax.grad(chapter.discriminator_loss_hand)(net.d, fake, real)
    assert_trees_match(rule, auto, rtol=1e-10, atol=1e-12)


def test_gradient_checks_pass():
    checks = chapter.gradient_checks(key=jax.random.key(0))
    assert len(checks) == 6 and all(c.passed for c in checks), [c.as_dict() for c in checks]


def test_uniform_logits_give_log_2_per_side():
    # D(x) = 1/2 everywhere (zero output layer): each side of D's loss is log 2
    net = chapter.init_gan(jax.random.key(0), hidden=4, latent=3, dtype=jnp.float64)
    net = net._replace(d=net.d._replace(out=chapter.Dense(jnp.zeros((4, 1)), jnp.zeros(1))))
    z = chapter.noise(jax.random.key(1), 5, 3, jnp.float64)
    real = jnp.full((5, 784), 0.5)
    fake = chapter.generate(net.g, z)
    assert float(chapter.discriminator_loss(net.d, fake, real)) == pytest.approx(2 * math.log(2))
    assert float(chapter.generator_loss(net.g, net.d, z, "non_saturating")) == pytest.approx(
        math.log(2)
    )


def test_alternate_moves_d_then_g():
    opt = chapter.alternate(optax.sgd(0.1), optax.sgd(0.1))
    params = chapter.init_gan(jax.random.key(0), hidden=4, latent=3, dtype=jnp.float64)
    grads = jax.tree.map(jnp.ones_like, params)
    state = opt.init(params)
    first, state = opt.update(grads, state, params)
    second, state = opt.update(grads, state, params)
    for leaf in jax.tree.leaves(first.g) + jax.tree.leaves(second.d):
        assert not jnp.any(leaf)
    for leaf in jax.tree.leaves(first.d) + jax.tree.leaves(second.g):
        np.testing.assert_allclose(leaf, -0.1)


def test_minimax_gradient_vanishes_where_d_rejects_the_samples():
    net = chapter.init_gan(jax.random.key(0), hidden=8, latent=3, dtype=jnp.float64)
    # a D whose logit is very negative on every generated digit
    d = net.d._replace(out=chapter.Dense(net.d.out.w, jnp.array([-15.0])))
    out = chapter.gradient_at_the_start(net, d, key=jax.random.key(1))
    assert out["mean_D_of_fakes"] < 1e-5
    assert out["minimax"] < 1e-4 * out["non_saturating"]


def test_parzen_on_cases_computed_by_hand():
    x = jnp.zeros((1, 4))
    sigma = 0.5
    # one sample at x itself: log N(x; x, sigma**2 I) = -D/2 log(2 pi sigma**2)
    mean, _ = chapter.parzen_log_likelihood(x, x, sigma)
    assert mean == pytest.approx(-2 * math.log(2 * math.pi * sigma**2))
    # two samples, one at distance 1: log((1 + exp(-1 / (2 sigma**2))) / 2) more
    two = jnp.array([[0.0, 0, 0, 0], [1.0, 0, 0, 0]])
    mean2, _ = chapter.parzen_log_likelihood(two, x, sigma)
    assert mean2 - mean == pytest.approx(math.log((1 + math.exp(-2)) / 2))
    sigma_best, scores = chapter.choose_sigma(two, x)
    assert sigma_best in chapter.SIGMAS and set(scores) == set(chapter.SIGMAS)


@pytest.fixture(scope="module")
def report():
    return chapter.run(chapter.Config(steps=40, hidden=16, samples=50))


def test_run_in_miniature(report, tmp_path):
    result = report.result
    assert result["steps"] == 40 and result["train_size"] == 7500
    assert sum(result["class_histogram"]) == 50
    parzen = result["parzen"]
    assert parzen["paper"] == 225.0 and parzen["sigma"] in chapter.SIGMAS
    assert np.isfinite(parzen["ours"])
    assert len(report.plot_data["snapshots"]) == 4
    assert report.plot_data["neighbours"].shape == (10, 784)
    assert report.plot_data["losses"].d.shape == (40,)
    json.dumps(report.as_json())
    from jaxdl.plotting import save_figure

    assert save_figure(chapter.plot(report), tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("bad", [dict(steps=1), dict(hidden=0), dict(samples=5)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        chapter.Config(**bad)


def test_paper_plan():
    assert chapter.Config(paper=True).plan() == (chapter.PAPER_STEPS, 10_000)


def test_cli_json(capsys):
    argv = ["run", "gan", "--steps", "40", "--hidden", "16", "--samples", "50", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["milestone"] == "gan" and out["result"]["parzen"]["paper"] == 225.0


def test_demo_prints_the_parzen_estimate(capsys):
    load_script("demos", "gan").main(["--steps", "40", "--hidden", "16", "--samples", "50"])
    out = capsys.readouterr().out
    assert "Parzen" in out and "225" in out and "class" in out
