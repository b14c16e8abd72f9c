"""Checkpoints survive a kill at any moment, are never restored when damaged, and a resumed run
refuses changed settings before restoring anything."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxdl.data import Batch
from jaxdl.errors import TrainingInterrupted
from jaxdl.training import Recipe, fit
from jaxdl.training import checkpoints as ckpt
from jaxdl.training.checkpoints import KILL_HOOK, CheckpointError, load_best_params
from tests.training import tiny_model
from tests.trees import assert_trees_match

TRAIN = Batch(*tiny_model.make_data(320))
VALID = Batch(*tiny_model.make_data(96, seed=1))
RECIPE = Recipe(epochs=3, batch_size=32, learning_rate=0.05, chunk_steps=5)
ROOT = Path(__file__).resolve().parents[2]

# The same data and recipe in a child process, with this suite's JAX settings.
CHILD = """
import sys
import jax
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
from tests.training.test_checkpoints import RECIPE, TRAIN, VALID
from tests.training import tiny_model
from jaxdl.training import fit
fit(tiny_model, TRAIN, VALID, RECIPE, run_dir=sys.argv[1])
"""


@pytest.fixture(scope="module")
def uninterrupted():
    return fit(tiny_model, TRAIN, VALID, RECIPE)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A complete 3-epoch run directory (copied by tests that damage it)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    fit(tiny_model, TRAIN, VALID, RECIPE, run_dir=run)
    return run


def copy_run(run: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


def test_a_run_killed_during_a_save_resumes_to_the_uninterrupted_parameters(
    uninterrupted, tmp_path
):
    # SIGKILL with half of epoch 2's state.npz on disk (the hook kills at that exact moment).
    run, epoch, stage = tmp_path / "run", 2, "state"
    env = os.environ | {"PYTHONPATH": str(ROOT), KILL_HOOK: f"{epoch}:{stage}"}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(run)], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    root = run / "checkpoints"
    # the half-written checkpoint is there, under its temporary name
    assert (root / f".partial-{epoch}").is_dir() and not (root / str(epoch)).exists()
    resumed = fit(tiny_model, TRAIN, VALID, RECIPE, run_dir=run, resume=True)
    assert_trees_match(resumed.params, uninterrupted.params)
    assert_trees_match(resumed.best_params, uninterrupted.best_params)
    assert [r["val_accuracy"] for r in resumed.history] == [
        r["val_accuracy"] for r in uninterrupted.history
    ]
    names = {p.name for p in root.iterdir()}
    assert {"2", "3"} <= names and not any(n.startswith(".") for n in names)  # no leftovers


def flip_bytes(path: Path, count: int = 100) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, middle + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: flip_bytes(d / "state.npz"),
        lambda d: (d / "state.npz").write_bytes((d / "state.npz").read_bytes()[:1000]),
        lambda d: (d / "meta.json").write_text(""),
    ],
    ids=["100-bytes-flipped", "array-file-truncated", "metadata-emptied"],
)  # fmt: skip
def test_a_damaged_checkpoint_falls_back_to_the_previous_one_in_one_line(
    uninterrupted, finished_run, tmp_path, capsys, damage
):
    run = copy_run(finished_run, tmp_path)
    damage(run / "checkpoints" / "3")
    err = []
    resumed = fit(tiny_model, TRAIN, VALID, RECIPE, run_dir=run, resume=True, notify=err.append)
    assert len(err) == 1 and "checkpoint of epoch 3 is damaged" in err[0], err
    assert err[0].endswith("resuming from epoch 2")
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert_trees_match(resumed.params, uninterrupted.params)  # epoch 3 trained again
    assert_trees_match(load_best_params(run, resumed.params), uninterrupted.best_params)


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda d: (d / "sha256.json").unlink(), "has no sha256.json (the save did not finish)"),
        (lambda d: (d / "sha256.json").write_text("[1"), "sha256.json is unreadable"),
        (lambda d: (d / "best_params.npz").unlink(), "best_params.npz: No such file"),
        (lambda d: (d / "meta.json").write_text("{}  "), "meta.json has 4 bytes"),
    ],
)
def test_verify_names_the_damage(finished_run, tmp_path, damage, problem):
    run = copy_run(finished_run, tmp_path)
    directory = run / "checkpoints" / "3"
    assert set(ckpt.verify(directory)) == {"state.npz", "best_params.npz", "meta.json"}
    damage(directory)
    with pytest.raises(CheckpointError) as info:
        ckpt.verify(directory)
    assert problem in str(info.value)


def test_no_usable_checkpoint_stops_with_one_line_naming_them(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path)
    flip_bytes(run / "checkpoints" / "3" / "state.npz")
    (run / "checkpoints" / "2" / "meta.json").write_text("{")
    with pytest.raises(CheckpointError) as info:
        fit(tiny_model, TRAIN, VALID, RECIPE, run_dir=run, resume=True)
    message = str(info.value)
    assert "\n" not in message
    assert "checkpoints/3/state.npz does not match its saved SHA-256" in message
    assert "checkpoints/2/meta.json" in message and "delete that directory" in message


def _other_model():
    class Wider:
        __name__ = tiny_model.__name__  # same name, other parameter shapes
        BACKWARDS = tiny_model.BACKWARDS

        @staticmethod
        def init_params(key, *, dtype=np.float32):
            params = tiny_model.init_params(key, dtype=dtype)
            return params | {"extra": jax.numpy.zeros((2,), dtype)}

        apply = staticmethod(tiny_model.apply)

    return Wider()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(recipe=Recipe(**{**RECIPE.__dict__, "epochs": 4})),
         "this run used epochs=3; you asked for epochs=4"),
        (dict(recipe=Recipe(**{**RECIPE.__dict__, "optimizer": "sgd"})),
         "this run used optimizer='adam'; you asked for optimizer='sgd'"),
        (dict(train=Batch(TRAIN.images[:288], TRAIN.labels[:288])),
         "this run used training_data='320 examples, sha256"),
        (dict(validation=Batch(VALID.images[::-1], VALID.labels[::-1])),
         "this run used validation_data="),
        (dict(settings={"validation_fraction": 0.2}),
         "this run used validation_fraction=None; you asked for validation_fraction=0.2"),
        (dict(model=_other_model()), "this run used parameters="),
    ],
    ids=["epochs", "optimizer", "data", "validation-data", "validation-fraction", "model"],
)  # fmt: skip
def test_resume_refuses_changed_settings_before_restoring_anything(
    finished_run, tmp_path, monkeypatch, change, message
):
    run = copy_run(finished_run, tmp_path)

    def no_restore(*args, **kwargs):
        raise AssertionError("restored a checkpoint of another run")

    monkeypatch.setattr(ckpt, "decode", no_restore)
    args = dict(model=tiny_model, train=TRAIN, validation=VALID, recipe=RECIPE) | change
    with pytest.raises(ValueError) as info:
        fit(args.pop("model"), args.pop("train"), args.pop("validation"), args.pop("recipe"),
            run_dir=run, resume=True, **args)  # fmt: skip
    assert message in str(info.value) and "\n" not in str(info.value)


def test_ctrl_c_names_the_epoch_and_what_is_saved(tmp_path):
    def interrupt(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as info:
        fit(tiny_model, TRAIN, VALID, RECIPE, run_dir=tmp_path / "run", on_epoch_end=interrupt)
    # Stopped after epoch 2 was saved: epoch 3 is the one to run next.
    assert (info.value.epoch, info.value.saved_epoch) == (3, 2)
    assert str(info.value) == "interrupted in epoch 3; saved after epoch 2"
