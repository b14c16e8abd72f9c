"""The diffusion chapter: the schedule and the closed form of q(x_t | x_0) against the chain of
single steps, the loss on cases computed by hand, ancestral sampling with the exact noise
predictor of a one-point data set (it lands on the point), respacing, the whole ε-loss's hand
rules against jax.grad, a short run with its figure, the CLI and the demo. The ops are proven in
tests/nn/test_diffusion_ops.py."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.cli import main
from jaxdl.milestones import diffusion as chapter
from tests.scripts import load_script

#: The tour's run itself: its training is about a second once compiled, and the CLI and demo
#: tests below reuse its compiled programs.
TINY = dict()


@pytest.fixture(scope="module")
def report():
    return chapter.run(chapter.Config(**TINY))


def test_schedule_is_ddpms():
    s = chapter.schedule(dtype=jnp.float64)
    assert s.beta.shape == (1000,)
    np.testing.assert_allclose([s.beta[0], s.beta[-1]], [1e-4, 0.02])
    np.testing.assert_allclose(s.alpha_bar[-1], np.prod(1 - np.linspace(1e-4, 0.02, 1000)))
    assert 3e-5 < float(s.alpha_bar[-1]) < 5e-5  # nothing of x_0 is left at T


def test_closed_form_equals_the_chain_of_steps():
    # Mean: T steps with z = 0 scale x_0 by Π √α = √ᾱ_t. Variance: v_t = α_t v_{t-1} + β_t
    # from v_0 = 0 is 1 - ᾱ_t. Both are what q_sample draws with.
    s = chapter.schedule(dtype=jnp.float64)
    x = jnp.array([[1.5, -2.0]])
    v = 0.0
    for t in range(1, 301):
        x = chapter.q_step(s, x, jnp.array([t]), jnp.zeros((1, 2)))
        v = float(s.alpha[t - 1]) * v + float(s.beta[t - 1])
    t300 = jnp.array([300])
    np.testing.assert_allclose(x, chapter.q_sample(s, jnp.array([[1.5, -2.0]]), t300, 0 * x))
    np.testing.assert_allclose(v, 1 - s.alpha_bar[299], rtol=1e-12)
    eps = jnp.array([[1.0, 0.0]])
    np.testing.assert_allclose(
        chapter.q_sample(s, 0 * eps, t300, eps), jnp.sqrt(1 - s.alpha_bar[299]) * eps
    )


def test_loss_by_hand():
    params = chapter.init_net(jax.random.key(0), width=4, depth=1, embed=4, dtype=jnp.float64)
    eps = jnp.array([[1.0, -2.0], [0.5, 0.0]])
    batch = chapter.Batch(jnp.zeros((2, 2)), jnp.array([1, 1000]), eps)
    s = chapter.schedule(dtype=jnp.float64)
    # the zero output layer predicts no noise: the loss is the mean of ε²
    assert float(chapter.loss(params, batch, sched=s)) == pytest.approx((1 + 4 + 0.25) / 4)


def test_ancestral_sampling_with_the_exact_predictor_lands_on_the_data():
    # For data that is one point c, ε = (x_t - √ᾱ_t c) / √(1 - ᾱ_t) exactly; the reverse chain
    # driven by it ends at c, from any start and any noise (the last step adds none).
    c = jnp.array([[0.7, -1.2]])
    full = chapter.schedule(dtype=jnp.float64)
    for count in (1000, 10):
        steps, s = chapter.respaced(full, count)
        x = jax.random.normal(jax.random.key(count), (1, 2), jnp.float64)
        for i in reversed(range(len(steps))):
            eps = (x - jnp.sqrt(s.alpha_bar[i]) * c) / jnp.sqrt(1 - s.alpha_bar[i])
            z = jax.random.normal(jax.random.key(i), (1, 2), jnp.float64)
            x = chapter.reverse_step(s, i, x, eps, z)
        np.testing.assert_allclose(x, c, rtol=1e-9)


def test_respacing_keeps_the_marginals():
    full = chapter.schedule(dtype=jnp.float64)
    steps, same = chapter.respaced(full, 1000)
    np.testing.assert_array_equal(steps, np.arange(1, 1001))
    np.testing.assert_allclose(same.beta, full.beta, rtol=1e-12)
    steps, short = chapter.respaced(full, 10)
    np.testing.assert_array_equal(steps, np.arange(100, 1001, 100))
    np.testing.assert_allclose(short.alpha_bar, full.alpha_bar[steps - 1])
    np.testing.assert_allclose(np.cumprod(short.alpha), short.alpha_bar, rtol=1e-12)


def test_whole_loss_hand_rules_equal_jax_grad():
    (check,) = chapter.gradient_checks(key=jax.random.key(0))
    assert check.passed, check


def test_chamfer_by_hand():
    a = np.array([[0.0, 0.0], [1.0, 0.0]])
    b = np.array([[0.0, 0.0]])
    assert chapter.chamfer(a, b) == pytest.approx(0.5 * (0.5 + 0.0))


def test_report_and_figure(report, tmp_path):
    r = report.result
    rows = {row["sampling_steps"]: row["chamfer"] for row in r["chamfer_by_sampling_steps"]}
    assert set(rows) == set(chapter.STEP_COUNTS)
    assert r["final_loss"] < 0.6 * r["first_loss"]
    # the samples lie much nearer the roll than the noise they started from
    assert rows[1000] < 0.5 * r["chamfer_noise"]
    assert report.plot_data["snapshots"].shape == (len(chapter.SHOWN), 500, 2)
    json.dumps(report.as_json())
    from jaxdl.plotting import save_figure

    fig = chapter.plot(report)
    assert len(fig.axes) == len(chapter.SHOWN) + 1
    assert save_figure(fig, tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "bad",
    [
        dict(steps=0),
        dict(embed=3),
        dict(learning_rate=0.0),
        dict(backward="x"),
        dict(depth=0),
        dict(samples=100_000),
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        chapter.Config(**bad)


def test_cli_json(capsys):
    assert main(["run", "diffusion", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["milestone"] == "diffusion" and out["result"]["steps"] == 3000


def test_demo_prints_its_numbers(capsys):
    demo = load_script("demos", "diffusion")
    demo.main([])
    out = capsys.readouterr().out
    assert "sampling steps" in out and "1000" in out and "Chamfer" in out
