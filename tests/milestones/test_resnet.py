"""The ResNet chapter in miniature (tiny widths, 8x8 digits, a few steps): the four nets' report,
the whole-net hand rules against jax.grad, the CLI and the demo. The block itself is proven in
tests/nn/test_residual.py."""

import json

import jax
import numpy as np
import pytest

from jaxdl.cli import main
from jaxdl.data.digits import pooled
from jaxdl.milestones import resnet as chapter
from tests.scripts import load_script

#: The default run, shorter: the same shapes and chunk length, so the same compiled programs as
#: the tour's run (tests/cli/test_run.py) and the CLI and demo tests below.
TINY = dict(steps=100)


@pytest.fixture(scope="module")
def report():
    return chapter.run(chapter.Config(**TINY))


def test_report_and_figure(report, tmp_path):
    result = report.result
    assert [row["net"] for row in result["errors"]] == [
        "plain-8",
        "plain-20",
        "resnet-8",
        "resnet-20",
    ]
    for row in result["errors"]:
        assert 0.0 <= row["final_training_error"] <= 1.0 and 0.0 <= row["test_error"] <= 1.0
        assert np.isfinite(row["final_training_loss"])
    assert result["widths"] == [4, 8, 16] and result["input"].startswith("8x8")
    # 100 steps already show the degradation of the deep plain net
    errors = {row["net"]: row["final_training_error"] for row in result["errors"]}
    assert errors["plain-20"] > errors["plain-8"] + 0.1
    assert errors["resnet-20"] < errors["plain-20"] - 0.1
    assert result["paper_cifar10_test_error_percent"]["resnet-56"] == 6.97
    curves = report.plot_data["curves"]
    assert all(c.training_error.shape == (100,) for c in curves)
    json.dumps(report.as_json())
    from jaxdl.plotting import save_figure

    fig = chapter.plot(report)
    assert len(fig.axes) == 2
    assert save_figure(fig, tmp_path / "fig6.png").read_bytes()[:4] == b"\x89PNG"


def test_net_layout():
    net = jax.eval_shape(lambda k: chapter.init_net(k, 3, (16, 32, 64)), jax.random.key(0))
    assert chapter.depth(net) == 3
    assert [s.first.w1.shape[2:] for s in net.stages] == [(16, 16), (16, 32), (32, 64)]
    assert [s.rest.w1.shape for s in net.stages] == [(2, 3, 3, c, c) for c in (16, 32, 64)]
    shallow = jax.eval_shape(lambda k: chapter.init_net(k, 1, (2, 3, 4)), jax.random.key(0))
    assert shallow.stages[0].rest is None
    images = np.zeros((2, 28, 28), np.uint8)
    assert pooled(images, np.zeros(2), 16).images.shape == (2, 16, 16, 1)


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
    assert chapter.Config(paper=True, steps=5000).plan()[0] == 5000


def test_cli_json(capsys):
    assert main(["run", "resnet", "--steps", "100", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["milestone"] == "resnet" and len(out["result"]["errors"]) == 4


def test_demo_prints_the_table(capsys):
    demo = load_script("demos", "resnet")
    demo.main(["--steps", "100"])
    out = capsys.readouterr().out
    assert "plain-20" in out and "resnet-56" in out and "training error" in out
