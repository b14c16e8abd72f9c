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


# --------------------------------------------------------------------------------------------
# --out / --resume: killed with SIGKILL, resumed bit-identical
# --------------------------------------------------------------------------------------------

#: A tiny ViT, two passes over 64 digits in batches of 16 (8 steps, a checkpoint per pass),
#: then the comparison on two subsets (a checkpoint after each: entries 9 and 10).
RESUME = dict(epochs=2, batch=16, patch=14, layers=1, heads=2, width=8, learning_rate=1e-3)


def vit_run(path, *, resume: bool):
    """The training and the comparison of a paper run, in miniature, checkpointed in ``path``."""
    train, test = float_images("sample")
    small, small_test = (
        Batch(train.images[:64], train.labels[:64]),
        Batch(test.images[:500], test.labels[:500]),
    )
    run_dir = None if path is None else chapter.RunDir(path, RESUME, resume=resume)
    try:
        trained = chapter.train_vit(
            small, key=jax.random.key(0), backward_="hand", run_dir=run_dir, **RESUME
        )
        rows = chapter.data_size_comparison(
            small, small_test, sizes=(16, 32), steps=2, key=jax.random.key(1),
            vit_settings={k: RESUME[k] for k in ("patch", "layers", "heads", "width",
                                                 "learning_rate")},
            run_dir=run_dir, entry=len(trained.losses),
        )  # fmt: skip
    finally:
        if run_dir is not None:
            run_dir.close()
    return trained, rows


VIT_CHILD = """
import sys
import jax
jax.config.update("jax_enable_x64", True)  # as the test process (tests/conftest.py)
from tests.milestones.test_vit import vit_run
vit_run(sys.argv[1], resume=False)
"""


def test_a_killed_run_resumes_bit_identical(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from jaxdl.training.checkpoints import KILL_HOOK
    from tests.trees import assert_trees_match

    root = Path(__file__).resolve().parents[2]
    run = tmp_path / "run"
    # killed once the first size of the comparison is saved (entry 9, after 8 training steps)
    env = os.environ | {"PYTHONPATH": str(root), KILL_HOOK: "9:rename"}
    child = subprocess.run(
        [sys.executable, "-c", VIT_CHILD, str(run)], cwd=root, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["4", "8", "9"]  # unpruned
    resumed, resumed_rows = vit_run(str(run), resume=True)
    whole, whole_rows = vit_run(None, resume=False)
    assert_trees_match(resumed.params, whole.params)
    np.testing.assert_array_equal(resumed.losses, whole.losses)
    np.testing.assert_array_equal(resumed.errors, whole.errors)
    assert len(resumed.losses) == 8 and resumed_rows == whole_rows and len(whole_rows) == 2
    with pytest.raises(ValueError, match="already holds a run"):
        chapter.run(chapter.Config(epochs=1, out=str(run)))
    with pytest.raises(ValueError, match="resume needs out"):
        chapter.Config(resume=True)
