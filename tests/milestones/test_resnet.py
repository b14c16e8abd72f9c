"""The ResNet chapter in miniature (tiny widths, 8x8 digits, a few steps): the four nets' report,
the whole-net hand rules against jax.grad, the CLI and the demo. The block itself is proven in
tests/nn/test_residual.py."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.cli import main
from jaxdl.milestones import resnet as chapter
from tests.scripts import load_script
from tests.trees import assert_trees_match

TINY = dict(steps=20, n_shallow=1, n_deep=2, side=8, width_divisor=8)


@pytest.fixture(scope="module")
def report():
    return chapter.run(chapter.Config(**TINY))


def test_report_and_figure(report, tmp_path):
    result = report.result
    assert [row["net"] for row in result["errors"]] == [
        "plain-8",
        "plain-14",
        "resnet-8",
        "resnet-14",
    ]
    for row in result["errors"]:
        assert 0.0 <= row["final_training_error"] <= 1.0 and 0.0 <= row["test_error"] <= 1.0
        assert np.isfinite(row["final_training_loss"])
    assert result["widths"] == [2, 4, 8] and result["input"].startswith("8x8")
    assert result["paper_cifar10_test_error_percent"]["resnet-56"] == 6.97
    curves = report.plot_data["curves"]
    assert all(c.training_error.shape == (20,) for c in curves)
    json.dumps(report.as_json())
    from jaxdl.plotting import save_figure

    fig = chapter.plot(report)
    assert len(fig.axes) == 2
    assert save_figure(fig, tmp_path / "fig6.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("res", [True, False], ids=["resnet", "plain"])
def test_hand_rules_give_jax_grad_of_the_pure_net(res):
    net = chapter.init_net(jax.random.key(0), 1, (2, 3, 4), jnp.float64)
    batch = chapter.Batch(jax.random.uniform(jax.random.key(1), (3, 8, 8, 1)), jnp.array([1, 2, 9]))
    hand = jax.jit(jax.grad(lambda p: chapter.LOSSES[(res, "hand")](p, batch)[0]))(net)
    auto = jax.jit(jax.grad(lambda p: chapter.LOSSES[(res, "autodiff")](p, batch)[0]))(net)
    assert_trees_match(hand, auto, rtol=1e-9, atol=1e-11)


def test_net_layout_and_strides():
    net = chapter.init_net(jax.random.key(0), 3, (16, 32, 64))
    assert len(net.blocks) == 9 and chapter.strides(3) == (1, 1, 1, 2, 1, 1, 2, 1, 1)
    assert [b.w1.shape[-1] for b in net.blocks] == [16] * 3 + [32] * 3 + [64] * 3
    images = np.zeros((2, 28, 28), np.uint8)
    assert chapter.prepare(images, np.zeros(2), 16).x.shape == (2, 16, 16, 1)


def test_smooth_is_a_trailing_mean():
    np.testing.assert_allclose(chapter.smooth(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1, 2, 4, 6])


@pytest.mark.parametrize(
    "bad",
    [
        dict(steps=0),
        dict(n_shallow=3, n_deep=2),
        dict(n_deep=40),
        dict(side=12),
        dict(width_divisor=0),
        dict(learning_rate=0.0),
        dict(backward="symbolic"),
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        chapter.Config(**bad)


def test_paper_plan_is_20_and_56_layers():
    steps, n_shallow, n_deep = chapter.Config(paper=True).plan()
    assert (6 * n_shallow + 2, 6 * n_deep + 2) == (20, 56) and steps == chapter.PAPER_STEPS


def test_cli_json(capsys):
    args = ["--steps", "20", "--n-deep", "2", "--side", "8", "--width-divisor", "8"]
    assert main(["run", "resnet", *args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["milestone"] == "resnet" and len(out["result"]["errors"]) == 4


def test_demo_prints_the_table(capsys):
    demo = load_script("demos", "resnet")
    demo.main(["--steps", "20", "--n-deep", "2", "--side", "8", "--width-divisor", "8"])
    out = capsys.readouterr().out
    assert "plain-14" in out and "resnet-56" in out and "training error" in out
