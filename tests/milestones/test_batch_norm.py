"""The batch-norm chapter: Figure 1's experiment in miniature (both nets, hand rules), the
hand-rule loss against the autodiff loss, train vs eval mode, batch statistics' noise, the CLI
and the demo. The op itself is proven in tests/nn/test_batch_norm.py."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.cli import main
from jaxdl.milestones import batch_norm as chapter
from tests.scripts import load_script
from tests.trees import assert_trees_match

#: The default run, shorter: the same chunk length (eval every 200), so the same compiled
#: programs as the tour's run and the CLI and demo tests below.
TINY = dict(steps=400)


@pytest.fixture(scope="module")
def report():
    return chapter.run(chapter.Config(**TINY))


def test_figure_1_numbers_in_miniature(report, tmp_path):
    result = report.result
    assert result["train_size"] == 8000 and result["test_size"] == 2000
    assert [row["step"] for row in result["test_accuracy"]] == [200, 400]
    for row in result["test_accuracy"]:
        assert 0.0 <= row["without_bn"] <= 1.0 and 0.0 <= row["with_bn"] <= 1.0
    # 400 steps from small weights: BN is far ahead (the plain net is still near chance)
    final = result["final_test_accuracy"]
    assert final["with_bn"] > 0.6 and final["with_bn"] > final["without_bn"] + 0.2
    for pct in result["percentiles_final"].values():
        assert pct["p15"] <= pct["p50"] <= pct["p85"]
    curves = report.plot_data["curves"]
    assert curves["with_bn"].percentiles.shape == (3, 3)  # steps 0, 200, 400
    np.testing.assert_array_equal(curves["with_bn"].steps, [0, 200, 400])
    json.dumps(report.as_json())
    from jaxdl.plotting import save_figure

    fig = chapter.plot(report)
    assert len(fig.axes) == 3
    assert save_figure(fig, tmp_path / "fig1.png").read_bytes()[:4] == b"\x89PNG"


def test_forgetting_eval_mode_costs_accuracy(report):
    modes = report.result["bn_modes_test_accuracy"]
    assert modes["eval_mode"] > modes["train_mode_class_sorted_batches"] + 0.3


def test_batch_statistics_noise_shrinks_like_one_over_sqrt_m(report):
    rows = report.result["batch_statistics_noise"]
    assert [r["batch_size"] for r in rows] == [2, 8, 60, 240]
    for r in rows:
        assert r["std_of_batch_mean"] == pytest.approx(r["sigma_over_sqrt_m"], rel=0.2)
    assert rows[0]["mean_batch_var_over_var"] == pytest.approx(0.5, abs=0.12)  # (m - 1) / m
    assert rows[0]["std_of_batch_var"] > rows[-1]["std_of_batch_var"]


def test_hand_rules_give_jax_grad_of_the_pure_net():
    k1, k2 = jax.random.split(jax.random.key(3))
    batch = chapter.Batch(jax.random.uniform(k2, (6, 784)), jnp.array([0, 1, 2, 3, 4, 5]))
    for bn_on in (False, True):
        net = chapter.init_net(k1, batch_norm=bn_on, std=0.3)
        hand = jax.jit(jax.grad(chapter.loss_hand))(net, batch)
        auto = jax.jit(jax.grad(chapter.loss_autodiff))(net, batch)
        assert_trees_match(hand, auto, rtol=1e-10, atol=1e-12)


def test_net_layout():
    net = chapter.init_net(jax.random.key(0), batch_norm=True)
    assert [layer.w.shape for layer in net.layers] == [
        (784, 100),
        (100, 100),
        (100, 100),
        (100, 10),
    ]
    assert [layer.b is None for layer in net.layers] == [True, True, True, False]
    assert len(net.norms) == 3
    plain = chapter.init_net(jax.random.key(0), batch_norm=False)
    assert plain.norms == () and all(layer.b is not None for layer in plain.layers)
    np.testing.assert_array_equal(plain.layers[0].w, net.layers[0].w)  # same start


@pytest.mark.parametrize(
    "bad",
    [
        dict(steps=0),
        dict(steps=10, eval_every=20),
        dict(learning_rate=0.0),
        dict(init_std=-1.0),
        dict(backward="symbolic"),
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        chapter.Config(**bad)


def test_paper_schedule():
    assert chapter.Config(paper=True).schedule() == (50_000, 1000)


def test_cli_json(capsys):
    assert main(["run", "batch-norm", "--steps", "400", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["milestone"] == "batch-norm"
    assert len(out["result"]["test_accuracy"]) == 2


def test_demo_prints_the_table(capsys):
    load_script("demos", "batch_norm").main(["--steps", "400"])
    out = capsys.readouterr().out
    assert "with BN" in out and "without BN" in out and "eval mode" in out
