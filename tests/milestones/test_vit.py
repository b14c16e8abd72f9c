"""The ViT chapter in miniature (one pass over the sample): its report and figure, Figure 7's
maps and the attention rollout on cases computed by hand, the data-size comparison with the deep
CNN on tiny subsets, the CLI and the demo. The ops are proven in tests/nn/test_vit_ops.py; the
whole model's hand rules against jax.grad and finite differences (``vit.gradient_checks``) run
with every registered check in tests/cli/test_run.py (``jaxdl check``), once for the suite."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.cli import main
from jaxdl.data.batches import Batch
from jaxdl.data.digits import float_images
from jaxdl.milestones import vit as chapter
from tests.scripts import load_script

#: The default run, one pass instead of four: the same shapes and chunk length as the tour's.
TINY = dict(epochs=1)


@pytest.fixture(scope="module")
def report():
    return chapter.run(chapter.Config(**TINY))


def test_report_and_figure(report, tmp_path):
    r = report.result
    assert r["patches"] == 16 and r["steps"] == 8000 // 32
    assert r["data"].startswith("8000 training / 2000 test digits")
    assert r["parameters"] == chapter.count_parameters(
        chapter.init_vit(key=jax.random.key(0), patch=7, layers=2, width=32)
    )
    # One pass already learns: far above chance (10%), and the loss fell from log 10.
    assert r["test_accuracy"] > 0.4
    assert report.plot_data["losses"][0] == pytest.approx(np.log(10), rel=1e-4)  # zero head
    assert r["final_training_loss"] < 0.8 * np.log(10)
    assert len(r["projection_variance_share"]) == 8
    assert report.plot_data["rollout"].shape == (4, 16)
    assert -1.0 <= r["rollout_ink_correlation"] <= 1.0
    np.testing.assert_allclose(report.plot_data["rollout"].sum(1) <= 1.0 + 1e-9, True)
    json.dumps(report.as_json())
    from jaxdl.plotting import save_figure

    fig = chapter.plot(report)
    assert len(fig.axes) == 3
    assert save_figure(fig, tmp_path / "vit.png").read_bytes()[:4] == b"\x89PNG"


def test_position_similarity_of_embeddings_made_by_hand():
    # Embeddings that code a patch's row in one coordinate and its column in another: patches
    # in one row share a coordinate, so they come out more alike than patches elsewhere.
    g = 4
    rows, cols = np.meshgrid(np.arange(g), np.arange(g), indexing="ij")
    pos = np.zeros((g * g + 1, 2 * g))
    pos[1 + np.arange(g * g), rows.ravel()] = 1.0
    pos[1 + np.arange(g * g), g + cols.ravel()] = 1.0
    params = chapter.init_vit(key=jax.random.key(0), patch=7, layers=1, width=2 * g)
    sim = chapter.position_similarity(params._replace(pos=jnp.asarray(pos)))
    assert sim.shape == (g, g, g, g)
    np.testing.assert_allclose(sim[1, 2, 1, 2], 1.0)
    np.testing.assert_allclose(sim[1, 2, 1, 3], 0.5)  # same row
    np.testing.assert_allclose(sim[1, 2, 0, 0], 0.0)  # neither
    assert chapter._row_column_contrast(sim) == pytest.approx((0.5, 0.0))


def test_rollout_of_uniform_and_of_self_attention():
    t = 5
    uniform = np.full((2, 1, 3, t, t), 1 / t)  # [L, B, H, T, T]
    # (A + I) / 2 twice, over uniform A: the class token keeps 1/4 + ... of itself
    out = chapter.rollout(uniform)
    a = 0.5 * (np.full((t, t), 1 / t) + np.eye(t))
    np.testing.assert_allclose(out[0], (a @ a)[0, 1:])
    itself = np.broadcast_to(np.eye(t), (2, 1, 3, t, t))
    np.testing.assert_allclose(chapter.rollout(itself), np.zeros((1, t - 1)))


def test_ink_correlation_by_hand():
    ink = np.array([[0.0, 1.0, 0.0, 1.0]])
    assert chapter.ink_correlation(ink * 0.3 + 0.1, ink) == pytest.approx(1.0)
    assert chapter.ink_correlation(1 - ink, ink) == pytest.approx(-1.0)


def test_projection_components_are_orthonormal_filters():
    params = chapter.init_vit(key=jax.random.key(1), patch=7, layers=1, width=32)
    components, share = chapter.projection_components(params, count=5)
    assert components.shape == (5, 7, 7)
    flat = components.reshape(5, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(5), atol=1e-9)
    assert np.all(np.diff(share) <= 0) and 0 < share.sum() <= 1


def test_data_size_comparison_in_miniature():
    train, test = float_images("sample")
    small_test = Batch(test.images[:500], test.labels[:500])
    rows = chapter.data_size_comparison(
        train,
        small_test,
        sizes=(64, 128),
        steps=2,
        key=jax.random.key(0),
        vit_settings=dict(patch=14, layers=1, heads=2, width=8, learning_rate=1e-3),
    )
    assert [r["size"] for r in rows] == [64, 128]
    for r in rows:
        assert 0.0 <= r["vit_test_accuracy"] <= 1.0 and 0.0 <= r["cnn_test_accuracy"] <= 1.0


@pytest.mark.parametrize(
    "bad",
    [
        dict(epochs=0),
        dict(patch=5),
        dict(heads=3),
        dict(learning_rate=0.0),
        dict(learning_rate=float("nan")),
        dict(backward="symbolic"),
        dict(paper="yes"),
    ],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        chapter.Config(**bad)


def test_cli_json(capsys):
    assert main(["run", "vit", "--epochs", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["milestone"] == "vit" and out["result"]["test_accuracy"] > 0.4


def test_demo_prints_its_numbers(capsys):
    demo = load_script("demos", "vit")
    demo.main(["--epochs", "1"])
    out = capsys.readouterr().out
    assert "test accuracy" in out and "same row or column" in out and "16 patches" in out
