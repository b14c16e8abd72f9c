"""The deep-cnn milestone (the tour's run), the demo, and the ``jaxdl train`` command."""

import json
from pathlib import Path

import pytest

from jaxdl.cli import main
from jaxdl.training import mnist as training_mnist
from tests.training.tiny_model import LinearMnist

ROOT = Path(__file__).resolve().parents[2]

#: The tour's test accuracy (2 epochs, seed 0, embedded sample), measured at 0.9675 on CPU and
#: GPU; the margin absorbs floating-point differences between machines.


@pytest.fixture
def linear_model(monkeypatch):
    """``jaxdl train`` with a softmax-regression stand-in: the command's plumbing, fast."""
    monkeypatch.setattr(training_mnist, "load_model", lambda name: LinearMnist)


def test_train_command_json(tmp_path, capsys, linear_model):
    out = tmp_path / "run"
    args = ["train", "mlp", "--epochs", "2", "--lr", "0.01", "--out", str(out), "--json",
            "--schedule", "constant"]  # fmt: skip
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    result = printed["result"]
    assert printed["config"]["learning_rate"] == 0.01 and printed["config"]["batch_size"] == 64
    assert 0.8 < result["test_accuracy"] <= 1.0
    assert [set(r) for r in result["epochs"]] == [
        {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    ] * 2
    assert result["images_per_second"] > 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    # Continue the finished run (constant rate) for one more epoch: history carries over.
    assert main(args[:3] + ["3"] + args[4:] + ["--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out)["result"]
    assert [r["epoch"] for r in resumed["epochs"]] == [1, 2, 3]
    assert resumed["epochs"][:2] == result["epochs"]


def test_train_command_preset_and_text_output(tmp_path, capsys, linear_model):
    assert main(["train", "mlp", "--preset", "tflearn", "--epochs", "1",
                 "--out", str(tmp_path / "r")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "learning_rate=0.01" in out and "batch_size=64" in out and "epochs=1" in out
    assert "7,850" in out and "test accuracy" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--devices", "3"], "more devices than"),
        (["--lr", "0"], "learning rate must be positive"),
        (["--epochs", "0"], "epochs must be an integer between 1 and 100000"),
        (["--resume"], "--resume needs --out"),
        (["--data", "/no/such/dir"], "no/such/dir"),
        (["--backward", "hand"], "has one backward pass"),
    ],
)
def test_train_command_bad_input_exits_2(args, message, tmp_path, capsys, linear_model):
    assert main(["train", "mlp", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxdl: error:") and message in err and err.count("\n") == 1


def test_train_command_unwritable_out_exits_2(tmp_path, capsys, linear_model):
    (tmp_path / "file").write_text("x")
    assert main(["train", "mlp", "--out", str(tmp_path / "file" / "run")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_train_command_divergence_exits_1(tmp_path, capsys, linear_model):
    args = ["train", "mlp", "--lr", "1e38", "--epochs", "1", "--out", str(tmp_path / "r")]
    assert main([*args, "--json"]) == 1
    err = capsys.readouterr().err
    assert "loss became non-finite at step 2" in err and "jax_debug_nans" in err
