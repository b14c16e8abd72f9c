"""The VAE chapter: the reparameterisation, the Gaussian KL and the Bernoulli likelihood, each
hand backward and its custom_vjp rule against jax.vjp / jax.grad in float64 (Hypothesis), the
whole ELBO through the rules, Figure 2 and 4 in miniature, the CLI and the demo."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxdl.cli import main
from jaxdl.milestones import vae as chapter
from tests.scripts import load_script
from tests.strategies import float_arrays

SHAPES = st.sampled_from([(1, 1), (3, 2), (5, 4)])


def _assert_close(a, b):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12)


@given(data=st.data(), shape=SHAPES)
def test_reparameterize_backward_is_jax_vjp(data, shape):
    mu, logvar, eps, g = (jnp.asarray(data.draw(float_arrays(shape, -3, 3))) for _ in range(4))
    _, vjp = jax.vjp(chapter.reparameterize, mu, logvar, eps)
    _assert_close(chapter.reparameterize_backward(mu, logvar, eps, g), vjp(g))
    _, rule = jax.vjp(chapter.reparameterize_hand, mu, logvar, eps)
    _assert_close(rule(g), vjp(g))


@given(data=st.data(), shape=SHAPES)
def test_gaussian_kl_backward_is_jax_grad(data, shape):
    mu, logvar = (jnp.asarray(data.draw(float_arrays(shape, -3, 3))) for _ in range(2))
    g = data.draw(st.floats(-2, 2))
    auto = jax.grad(lambda m, v: g * chapter.gaussian_kl(m, v), argnums=(0, 1))(mu, logvar)
    _assert_close(chapter.gaussian_kl_backward(mu, logvar, g), auto)
    rule = jax.grad(lambda m, v: g * chapter.gaussian_kl_hand(m, v), argnums=(0, 1))(mu, logvar)
    _assert_close(rule, auto)


@given(data=st.data(), shape=SHAPES)
def test_bernoulli_nll_backward_is_jax_grad(data, shape):
    logits = jnp.asarray(data.draw(float_arrays(shape, -8, 8)))
    x = jnp.asarray(data.draw(float_arrays(shape, 0, 1)))
    auto = jax.grad(chapter.bernoulli_nll, argnums=(0, 1))(logits, x)
    _assert_close(chapter.bernoulli_nll_backward(logits, x, 1.0), auto)
    _assert_close(jax.grad(chapter.bernoulli_nll_hand, argnums=(0, 1))(logits, x), auto)


def test_closed_forms_on_cases_computed_by_hand():
    # the prior itself: KL 0; N(1, e) against N(0, 1): (e + 1 - 1 - 1) / 2 per unit
    z = jnp.zeros((2, 3))
    assert float(chapter.gaussian_kl(z, z)) == 0.0
    assert float(chapter.gaussian_kl(z + 1, z + 1)) == pytest.approx(3 * (np.e - 1) / 2)
    # logits 0: every pixel costs log 2, whatever it is
    x = jnp.array([[0.0, 1.0, 1.0, 0.0]])
    assert float(chapter.bernoulli_nll(jnp.zeros((1, 4)), x)) == pytest.approx(4 * np.log(2))
    # eps ~ N(0, 1) becomes N(mu, sigma**2)
    eps = jax.random.normal(jax.random.key(0), (20000, 1))
    z = chapter.reparameterize(jnp.full((20000, 1), 2.0), jnp.full((20000, 1), np.log(9.0)), eps)
    assert float(z.mean()) == pytest.approx(2.0, abs=0.06)
    assert float(z.std()) == pytest.approx(3.0, abs=0.06)


def test_pieces_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="differ"):
        chapter.reparameterize(jnp.zeros((2, 3)), jnp.zeros((2, 3)), jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\[B, Z\]"):
        chapter.gaussian_kl(jnp.zeros(3), jnp.zeros(3))
    with pytest.raises(ValueError, match="differ"):
        chapter.bernoulli_nll(jnp.zeros((2, 3)), jnp.zeros((3, 2)))


def test_gradient_checks_pass():
    """The three rules and the whole ELBO of a small VAE through them (jax.grad of the hand
    rules vs of the pure forwards vs finite differences)."""
    checks = chapter.gradient_checks(key=jax.random.key(0))
    assert len(checks) == 7 and all(c.passed for c in checks), [c.as_dict() for c in checks]


@pytest.fixture(scope="module")
def report():
    return chapter.run(chapter.Config(passes=2, hidden=32))


def test_figures_2_and_4_in_miniature(report, tmp_path):
    result = report.result
    assert result["train_size"] == 8000 and result["examples_seen"] == 16000
    bounds = result["figure_2"]
    assert set(bounds) == {"2", "10"}
    for c in report.plot_data["curves"]:
        assert c.train_bound[-1] > c.train_bound[0] + 100  # from ~-550 nats at the start
        assert -250 < c.test_bound[-1] < 0
    assert report.plot_data["manifold"].shape == (15 * 28, 15 * 28)
    assert report.plot_data["reconstructions"].shape == (2, 8, 28, 28)
    assert 0 <= result["active_units"]["active"] <= 10
    json.dumps(report.as_json())
    from jaxdl.plotting import save_figure

    assert save_figure(chapter.plot(report), tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_manifold_needs_two_dimensions():
    with pytest.raises(ValueError, match="2-dimensional"):
        chapter.manifold(chapter.init_vae(jax.random.key(0), 3, 4))


def test_paper_plan_and_bad_values():
    assert chapter.Config(paper=True).plan() == (chapter.PAPER_LATENTS, 500, 100)
    assert chapter.Config(paper=True, passes=1, hidden=8).plan() == (chapter.PAPER_LATENTS, 8, 1)
    for bad in (dict(passes=0), dict(hidden=0)):
        with pytest.raises(ValueError):
            chapter.Config(**bad)


def test_cli_json(capsys):
    assert main(["run", "vae", "--passes", "2", "--hidden", "32", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["milestone"] == "vae" and set(out["result"]["figure_2"]) == {"2", "10"}


def test_demo_prints_the_bounds(capsys):
    load_script("demos", "vae").main(["--passes", "2", "--hidden", "32"])
    out = capsys.readouterr().out
    assert "ELBO" in out and "2-d" in out and "active" in out
