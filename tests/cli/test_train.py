"""The deep-cnn milestone (the tour's run), the demo, and the ``jaxdl train`` command."""

import json
from pathlib import Path

import numpy as np
import pytest

from jaxdl.cli import main
from jaxdl.milestones import deep_cnn
from jaxdl.training import mnist as training_mnist
from tests.scripts import load_script
from tests.training.tiny_model import LinearMnist

ROOT = Path(__file__).resolve().parents[2]

#: The tour's test accuracy (2 epochs, seed 0, embedded sample), measured at 0.9675 on CPU and
#: GPU; the margin absorbs floating-point differences between machines.
TOUR_TEST_ACCURACY = 0.9675


def test_tour_run_reaches_its_accuracy_and_plots(tmp_path, capsys):
    report = deep_cnn.run(deep_cnn.Config())
    result = report.result
    assert result["test_accuracy"] == pytest.approx(TOUR_TEST_ACCURACY, abs=0.015)
    assert result["examples"] == {"train": 7200, "validation": 800, "test": 2000}
    assert [r["epoch"] for r in result["epochs"]] == [1, 2]
    assert result["epochs"][1]["loss"] < result["epochs"][0]["loss"]
    assert result["parameters"] == 455_946 and result["images_per_second"] > 0
    assert result["layer_output_shapes"]["conv2"] == [14, 14, 64]
    assert "test accuracy" in report.headline
    from jaxdl.plotting import save_figure

    path = save_figure(deep_cnn.plot(report), tmp_path / "curves.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_gradient_checks_are_the_layers_checks(monkeypatch):
    # jaxdl check runs them for real (tests/test_layers.py proves each layer); here: delegation.
    from jaxdl import layers

    seen = []
    monkeypatch.setattr(layers, "gradient_checks", lambda *, key: seen.append(key) or ["c"])
    assert deep_cnn.gradient_checks(key="k") == ["c"] and seen == ["k"]


def test_milestone_config_rejects_bad_values():
    for bad in (dict(epochs=0), dict(learning_rate=-1.0), dict(optimizer="rmsprop")):
        with pytest.raises(ValueError):
            deep_cnn.Config(**bad)


@pytest.fixture
def linear_model(monkeypatch):
    """``jaxdl train`` with a softmax-regression stand-in: the command's plumbing, fast."""
    monkeypatch.setattr(training_mnist, "load_model", lambda name: LinearMnist)


def test_train_command_json(tmp_path, capsys, linear_model):
    out = tmp_path / "run"
    args = ["train", "mlp", "--epochs", "2", "--lr", "0.01", "--out", str(out), "--json"]
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
    # Continue the finished run for one more epoch: history carries over.
    assert main(args[:3] + ["3"] + args[4:] + ["--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out)["result"]
    assert [r["epoch"] for r in resumed["epochs"]] == [1, 2, 3]
    assert resumed["epochs"][:2] == result["epochs"]


def test_train_command_preset_and_text_output(tmp_path, capsys, linear_model):
    assert main(["train", "mlp", "--preset", "tflearn", "--epochs", "1",
                 "--out", str(tmp_path / "r")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "learning_rate=0.01" in out and "batch_size=64" in out and "epochs=1" in out
    assert "linear: 7850 parameters" in out and "test accuracy" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--devices", "3"], "more devices than"),
        (["--lr", "0"], "learning rate must be positive"),
        (["--epochs", "0"], "epochs must be a positive integer"),
        (["--resume"], "--resume needs --out"),
        (["--data", "/no/such/dir"], "no/such/dir"),
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


def test_demo_prints_tflearn_style_epochs(tmp_path, capsys):
    demo = load_script("demos", "deep_cnn")
    demo.main(["--epochs", "1", "--out", str(tmp_path / "convnet_mnist")])
    out = capsys.readouterr().out
    assert "| Adam | epoch: 001 | loss:" in out and "val_acc:" in out
    accuracy = float(out.split("Test accuracy: ")[1].split()[0])
    assert 0.5 < accuracy <= 1.0
    assert np.isfinite(accuracy)


def test_train_command_divergence_exits_1(tmp_path, capsys, linear_model):
    args = ["train", "mlp", "--lr", "1e38", "--epochs", "1", "--out", str(tmp_path / "r")]
    assert main([*args, "--json"]) == 1
    err = capsys.readouterr().err
    assert "loss became non-finite at step 2" in err and "jax_debug_nans" in err
