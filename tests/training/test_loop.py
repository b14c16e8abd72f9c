import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.data import Batch
from jaxdl.errors import DivergenceError
from jaxdl.losses import softmax_cross_entropy as cross_entropy
from jaxdl.training import Recipe, fit, make_optimizer, make_train_step, preset
from jaxdl.training.checkpoints import load_best_params
from jaxdl.training.loop import init_state
from jaxdl.training.metrics import read_metrics
from jaxdl.training.step import keys, make_evaluate
from tests.training import tiny_model
from tests.trees import assert_trees_match

TRAIN = Batch(*tiny_model.make_data(640))
VALID = Batch(*tiny_model.make_data(160, seed=1))
RECIPE = Recipe(epochs=3, batch_size=32, learning_rate=0.05, chunk_steps=6)


def test_uniform_logits_give_log_ten():
    logits = jnp.zeros((4, 10), jnp.float32)
    assert float(cross_entropy(logits, jnp.arange(4))) == pytest.approx(math.log(10), rel=1e-6)
    with pytest.raises(ValueError, match=r"labels \(3,\)"):
        cross_entropy(logits, jnp.arange(3))


def test_train_step_is_float32_lowers_the_loss_and_compiles_once():
    optimizer = make_optimizer("adam", 0.05)
    state = init_state(tiny_model, optimizer, key=jax.random.key(0))
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(state.params))
    step = jax.jit(make_train_step(tiny_model, optimizer))
    batch = Batch(jnp.asarray(TRAIN.images[:64]), jnp.asarray(TRAIN.labels[:64]))
    losses = []
    for i in range(20):
        state, metrics = step(state, batch, jax.random.key(i))
        losses.append(float(metrics.loss))
    assert step._cache_size() == 1
    assert losses[-1] < 0.5 * losses[0]
    assert int(state.step) == 20 and state.params["w"].dtype == jnp.float32


def test_sgd_with_momentum_is_optax_sgd():
    grads = {"w": jnp.ones(3)}
    ours = make_optimizer("sgd", 0.1)
    state = ours.init(grads)
    _, state = ours.update(grads, state)
    updates, _ = ours.update(grads, state)
    np.testing.assert_allclose(updates["w"], -0.1 * (1 + 0.9))
    with pytest.raises(ValueError, match="rmsprop"):
        make_optimizer("rmsprop", 0.1)


def test_evaluate_counts_every_example_once():
    params = tiny_model.init_params(jax.random.key(0))
    images, labels = jnp.asarray(VALID.images[:70]), jnp.asarray(VALID.labels[:70])
    totals = make_evaluate(tiny_model, batch_size=32)(params, images, labels)
    logits = tiny_model.apply(params, images)
    assert int(totals.count) == 70
    assert int(totals.correct) == int(jnp.sum(jnp.argmax(logits, -1) == labels))
    assert float(totals.loss_sum) / 70 == pytest.approx(
        float(cross_entropy(logits, labels)), rel=1e-5
    )


def test_resume_ends_with_the_parameters_of_an_uninterrupted_run(tmp_path):
    uninterrupted = fit(tiny_model, TRAIN, VALID, RECIPE)
    history = uninterrupted.history
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert history[-1]["val_accuracy"] > 0.85 and history[-1]["loss"] < history[0]["loss"]
    assert all(r["images_per_second"] > 0 and r["seconds"] > 0 for r in history)

    def interrupt(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_model, TRAIN, VALID, RECIPE, run_dir=run, on_epoch_end=interrupt)
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2]
    resumed = fit(tiny_model, TRAIN, VALID, RECIPE, run_dir=run, resume=True)
    assert_trees_match(resumed.params, uninterrupted.params)
    assert_trees_match(resumed.best_params, uninterrupted.best_params)
    assert resumed.best_epoch == uninterrupted.best_epoch
    assert [r["val_accuracy"] for r in resumed.history] == [r["val_accuracy"] for r in history]

    # The run directory: metrics, TensorBoard events, the newest two checkpoints.
    assert read_metrics(run) == json.loads(json.dumps(resumed.history))
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["2", "3"]
    assert_trees_match(load_best_params(run, resumed.params), resumed.best_params)
    # Not silently overwritten by a new run; not resumed with other settings.
    with pytest.raises(ValueError, match="already holds a run; pass resume=True"):
        fit(tiny_model, TRAIN, VALID, RECIPE, run_dir=run)
    with pytest.raises(ValueError, match="this run used learning_rate=0.05; you asked for"):
        fit(tiny_model, TRAIN, VALID, Recipe(**{**RECIPE.__dict__, "learning_rate": 0.1}),
            run_dir=run, resume=True)  # fmt: skip


def test_early_stopping_with_patience_and_the_progress_bar(capsys):
    # A learning rate too small to change any prediction: no epoch beats the first.
    recipe = Recipe(epochs=6, batch_size=32, learning_rate=1e-12, patience=2)
    result = fit(tiny_model, TRAIN, VALID, recipe, progress=True)
    bar = capsys.readouterr().err
    assert "epoch 1/6" in bar and "img/s" in bar and "loss=" in bar and "acc=" in bar
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    assert result.stopped_early and result.best_epoch == 1


def test_divergence_names_the_step_and_hints():
    recipe = Recipe(epochs=2, batch_size=32, learning_rate=1e38, log_every=4)
    with pytest.raises(DivergenceError, match="jax_debug_nans") as info:
        fit(tiny_model, TRAIN, VALID, recipe)
    assert info.value.step == 2 and "learning_rate=1e+38" in str(info.value)


def test_unwritable_run_directory_fails_before_training(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    calls = []
    with pytest.raises(ValueError, match="not writable"):
        fit(tiny_model, TRAIN, VALID, RECIPE, run_dir=tmp_path / "file" / "run",
            on_epoch_end=calls.append)  # fmt: skip
    assert calls == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(devices=64), "more devices than"),
        (dict(batch_size=1000), "fewer than one batch"),
        (dict(backward="hand"), "has one backward pass"),
    ],
)
def test_bad_settings_fail_before_training(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit(tiny_model, TRAIN, VALID, Recipe(**{**RECIPE.__dict__, **kwargs}))


def test_bad_data_and_recipes():
    with pytest.raises(ValueError, match="labels"):
        fit(tiny_model, Batch(TRAIN.images, TRAIN.labels[:-1]), VALID, RECIPE)
    with pytest.raises(ValueError, match="validation set is empty"):
        fit(tiny_model, TRAIN, Batch(VALID.images[:0], VALID.labels[:0]), RECIPE)
    with pytest.raises(ValueError, match="resume=True needs a run directory"):
        fit(tiny_model, TRAIN, VALID, RECIPE, resume=True)
    for bad in (dict(learning_rate=0.0), dict(epochs=0), dict(optimizer="rmsprop"),
                dict(patience=-1), dict(momentum=1.0), dict(batch_size=2.5),
                dict(backward="numeric")):  # fmt: skip
        with pytest.raises(ValueError):
            Recipe(**bad)


def test_tflearn_preset_is_the_seed_recipe():
    recipe = preset("tflearn")
    assert (recipe.optimizer, recipe.learning_rate, recipe.batch_size, recipe.epochs) == (
        "adam", 0.01, 64, 20,
    )  # fmt: skip
    assert preset("tflearn", epochs=2).epochs == 2
    with pytest.raises(ValueError, match="known presets: tflearn"):
        preset("keras")


def test_run_keys_are_independent_of_the_epoch_count():
    a, b = keys(0), keys(0)
    assert_trees_match(jax.random.key_data(a.train), jax.random.key_data(b.train))
    assert not np.array_equal(jax.random.key_data(a.init), jax.random.key_data(a.train))
    # Another seed, other keys: the resume test's equality is not a constant.
    assert not np.array_equal(jax.random.key_data(keys(1).train), jax.random.key_data(a.train))


@pytest.mark.parametrize(
    "train, message",
    [
        (Batch((TRAIN.images * 255).astype(np.uint8), TRAIN.labels),
         "training images are uint8 (values 0..255); the models take float images in [0, 1]"),
        (Batch(np.where(np.arange(640)[:, None, None, None] == 7, np.nan, TRAIN.images),
               TRAIN.labels), "NaN or infinite pixels (1 images, the first at index 7)"),
        (Batch(TRAIN.images, np.where(np.arange(640) == 5, -1, TRAIN.labels)),
         "training labels must lie in 0..2 (the model has 3 classes); found -1 at index 5"),
        (Batch(TRAIN.images, np.where(np.arange(640) == 9, 3, TRAIN.labels)),
         "found 3 at index 9"),
        (Batch(TRAIN.images, TRAIN.labels.astype(np.float32)), "integer class indices"),
    ],
    ids=["uint8", "nan-image", "label-minus-one", "label-too-large", "float-labels"],
)  # fmt: skip
def test_data_that_would_train_on_nonsense_is_refused_before_training(train, message):
    calls = []
    with pytest.raises(ValueError) as info:
        fit(tiny_model, train, VALID, RECIPE, on_epoch_end=calls.append)
    assert message in str(info.value) and calls == []


def test_train_step_backward_switch_gives_the_same_update():
    """The MLP's hand (custom_vjp) and autodiff backward passes: one and the same step."""
    from jaxdl.models import mnist_mlp

    optimizer = make_optimizer("sgd", 0.1)
    state = init_state(mnist_mlp, optimizer, key=jax.random.key(0))
    state = state._replace(params=jax.tree.map(lambda p: p.astype(jnp.float64), state.params))
    images = jax.random.uniform(jax.random.key(2), (4, 28, 28, 1), jnp.float64)
    batch = Batch(images, jnp.array([0, 3, 3, 9]))
    key = jax.random.key(1)
    hand, auto = (
        jax.jit(make_train_step(mnist_mlp, optimizer, backward=b))(state, batch, key)
        for b in ("hand", "autodiff")
    )
    for h, a in zip(jax.tree.leaves(hand), jax.tree.leaves(auto), strict=True):
        np.testing.assert_allclose(h, a, rtol=1e-10, atol=1e-13)
