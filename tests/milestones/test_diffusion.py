"""The diffusion chapter: the schedule and the closed form of q(x_t | x_0) against the chain of
single steps, the loss on cases computed by hand, ancestral sampling with the exact noise
predictor of a one-point data set (it lands on the point), respacing, both whole ε-losses' hand
rules against jax.grad, a short run with its figure, the CLI and the demo; the paper run on
digits: the U-Net's shapes, the Fréchet distance and the nearest digits by hand, the run in
miniature, and a training killed with SIGKILL that resumes bit-identical. The ops are proven in
tests/nn/test_diffusion_ops.py."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.cli import main
from jaxdl.milestones import diffusion as chapter
from jaxdl.milestones.diffusion import paper, unet
from tests.scripts import load_script
from tests.trees import assert_trees_match

ROOT = Path(__file__).resolve().parents[2]

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


def _exact_predictor(c, x, t):
    """The noise exactly, for data that is the one point ``c``."""
    a = chapter.schedule(dtype=x.dtype).alpha_bar[t - 1][:, None]
    return (x - jnp.sqrt(a) * c) / jnp.sqrt(1 - a)


def test_chain_end_with_the_exact_predictor_lands_on_the_data():
    # The compiled loop over a padded schedule (one program for every count) ends at c too.
    c = jnp.array([[0.7, -1.2]])
    full = chapter.schedule(dtype=jnp.float64)
    x_top = jax.random.normal(jax.random.key(0), (3, 2), jnp.float64)
    for count in (1000, 10, 1):
        steps, s = chapter.respaced(full, count)
        end = chapter.chain_end(_exact_predictor, c, s, steps, x_top, jax.random.key(1))
        np.testing.assert_allclose(end, jnp.broadcast_to(c, (3, 2)), rtol=1e-9)


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
    # The swiss roll's; the U-Net's (chapter.unet_check, half a minute of compiling) runs with
    # every registered check in tests/cli/test_run.py (``jaxdl check``), once for the suite.
    check = chapter.mlp_check(key=jax.random.key(0))
    assert check.passed, check
    assert [c.__name__ for c in (chapter.mlp_check, chapter.unet_check)] == [
        "mlp_check",
        "unet_check",
    ]


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
        dict(paper=True, base=9),
        dict(out="somewhere"),
        dict(paper=True, resume=True),
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


# --------------------------------------------------------------------------------------------
# The paper run: digits with a U-Net
# --------------------------------------------------------------------------------------------


def test_unet_shapes_zero_start_and_widths():
    params = unet.init_unet(key=jax.random.key(0), base=8, embed=4)
    x = jnp.ones((3, 28, 28, 1), jnp.float32)
    eps = jax.jit(unet.eps_unet)(params, x, jnp.array([1, 500, 1000]))
    assert eps.shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(eps, 0.0)  # the zero output layer: ε_θ = 0 at first
    assert [b.conv_1[0].shape[2:] for b in params.down] == [(8, 8), (8, 16)]
    assert params.middle.conv_1[0].shape[2:] == (16, 16) and params.middle.skip == ()
    # up: the upsampled map and the level's skip, concatenated
    assert [b.conv_1[0].shape[2:] for b in params.up] == [(32, 16), (24, 8)]
    batch = chapter.Batch(0 * x, jnp.array([1, 2, 3]), jnp.full(x.shape, 2.0))
    value = jax.jit(unet.loss)(params, batch, sched=chapter.schedule())
    assert float(value) == pytest.approx(4.0)


def test_frechet_distance_by_hand():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 3))
    assert paper.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    # A shift adds its squared length; a scaling by 2 of one set adds Σ (σ - 2σ)²
    assert paper.frechet_distance(a, a + [1.0, 2.0, 0.0]) == pytest.approx(5.0, rel=1e-9)
    variance = np.var(a, axis=0, ddof=1)
    # for a diagonal-free check, compare Tr(√(S1 S2)) with scipy's matrix square root
    b = rng.normal(size=(300, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.2, 0, 2.0]])
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    from scipy.linalg import sqrtm

    expected = float(np.real(np.trace(sqrtm(s1 @ s2))))
    assert paper.trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-9)
    d = a.mean(0) - b.mean(0)
    full = d @ d + np.trace(s1) + np.trace(s2) - 2 * expected
    assert paper.frechet_distance(a, b) == pytest.approx(full, rel=1e-9)
    doubled = paper.frechet_distance(a, 2 * (a - a.mean(0)) + a.mean(0))
    assert doubled == pytest.approx(np.sum(variance), rel=1e-9)
    with pytest.raises(ValueError, match="features must be"):
        paper.frechet_distance(a, b[:, :2])


def test_nearest_training_digits_by_hand():
    training = np.zeros((3, 2, 2))
    training[1] = 1.0
    training[2, 0, 0] = 3.0
    index, distance = paper.nearest_training_digits(np.full((1, 2, 2), 0.9), training)
    assert index.tolist() == [1] and distance[0] == pytest.approx(0.2)
    index, _ = paper.nearest_training_digits(training[::-1], training, block=2)
    assert index.tolist() == [2, 1, 0]


#: The paper run in miniature: a narrow U-Net, a few steps, few digits.
PAPER_TINY = dict(paper=True, steps=4, base=8, samples=20, classifier_steps=4, grid_steps=5)


@pytest.fixture(scope="module")
def paper_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper") / "run"
    return chapter.run(chapter.Config(**PAPER_TINY, out=str(out))), out


def test_paper_report_and_figure(paper_report, tmp_path):
    report, out = paper_report
    r = report.result
    assert r["steps"] == 4 and r["base"] == 8 and len(report.plot_data["losses"]) == 4
    assert r["data"].startswith("8000 training / 2000 test digits")
    assert [row["sampling_steps"] for row in r["frechet_by_sampling_steps"]] == list(
        paper.SAMPLING_STEPS
    )
    assert all(row["frechet"] > 0 for row in r["frechet_by_sampling_steps"])
    assert 0 < r["frechet_held_out_real"] and r["digits_compared"] == 20
    assert sum(r["generated_classes"]) == 20 and r["reference_digits"] == 1000
    # four steps learn nothing: the samples are far from every digit, the real ones are not
    assert r["nearest_training_distance_generated"] > r["nearest_training_distance_held_out_real"]
    assert report.plot_data["grid"].shape == (paper.GRID, 28, 28)
    assert r["paper_cifar10_fid"] == 3.17
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["4"]
    from jaxdl.plotting import save_figure

    fig = chapter.plot(report)
    assert len(fig.axes) == 2
    # the JSON output alone plots the same figure (the page's precomputed run)
    again = chapter.report_from_json(json.loads(json.dumps(report.as_json())))
    assert len(chapter.plot(again).axes) == 2
    assert save_figure(fig, tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


#: A training of 4 steps in chunks of 2 on 256 digits, checkpointed after each chunk.
RESUME = dict(data="sample", steps=4, batch=8, base=8, embed=8, learning_rate=1e-3)

CHILD = """
import sys
import jax
jax.config.update("jax_enable_x64", True)  # as the test process (tests/conftest.py)
from tests.milestones.test_diffusion import RESUME, resume_images
from jaxdl.milestones.diffusion import paper
paper.train_unet(resume_images(), key=jax.random.key(0), settings=RESUME, backward_="hand",
                 run_dir=sys.argv[1], chunk=2)
"""


def resume_images():
    from jaxdl.data.digits import float_images

    return paper.to_signed(float_images("sample")[0].images[:256])


def test_a_killed_paper_training_resumes_bit_identical(tmp_path):
    from jaxdl.training.checkpoints import KILL_HOOK

    run = tmp_path / "run"
    env = os.environ | {"PYTHONPATH": str(ROOT), KILL_HOOK: "2:rename"}  # killed after step 2
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(run)], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["2"]
    images = resume_images()
    kw = dict(key=jax.random.key(0), settings=RESUME, backward_="hand", chunk=2)
    resumed = paper.train_unet(images, run_dir=str(run), resume=True, **kw)
    whole = paper.train_unet(images, **kw)
    assert_trees_match(resumed.params, whole.params)
    # steps 1 and 2 from the checkpoint, 3 and 4 run again: every loss to the last bit
    assert len(resumed.losses) == 4 and resumed.losses[0] == pytest.approx(1.0, rel=0.3)
    np.testing.assert_array_equal(resumed.losses, whole.losses)
    with pytest.raises(ValueError, match="used learning_rate=0.001; you asked for"):
        paper.train_unet(
            images,
            run_dir=str(run),
            resume=True,
            **{**kw, "settings": {**RESUME, "learning_rate": 2e-3}},
        )
    with pytest.raises(ValueError, match="already holds a run"):
        paper.train_unet(images, run_dir=str(run), **kw)


def test_demo_prints_the_paper_numbers(paper_report, capsys):
    demo = load_script("demos", "diffusion")
    demo.print_paper(paper_report[0].result)
    out = capsys.readouterr().out
    assert "Fréchet distance" in out and "held-out real digits" in out and "sampling steps" in out
