import jax
import numpy as np
import pytest

from jaxdl.milestones import deep_cnn
from tests.scripts import load_script


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


def test_gradient_checks_are_the_whole_network(monkeypatch):
    # jaxdl check runs it for real (tests/nn/test_ops.py proves each op, and
    # tests/models/test_deep_cnn.py the whole network); here: what is checked, not compiled.
    from jaxdl import gradcheck

    whole = []
    monkeypatch.setattr(gradcheck, "check_gradient", lambda name, *a, **k: whole.append(name))
    deep_cnn.gradient_checks(key=jax.random.key(0))
    assert whole == ["deep_cnn: whole network, custom_vjp layers"]


def test_milestone_config_rejects_bad_values():
    for bad in (dict(epochs=0), dict(learning_rate=-1.0), dict(optimizer="rmsprop")):
        with pytest.raises(ValueError):
            deep_cnn.Config(**bad)


def test_demo_prints_tflearn_style_epochs(tmp_path, capsys):
    demo = load_script("demos", "deep_cnn")
    demo.main(["--epochs", "1", "--out", str(tmp_path / "convnet_mnist")])
    out = capsys.readouterr().out
    assert "| Adam | epoch: 001 | loss:" in out and "val_acc:" in out
    accuracy = float(out.split("Test accuracy: ")[1].split()[0])
    assert 0.5 < accuracy <= 1.0
    assert np.isfinite(accuracy)


TOUR_TEST_ACCURACY = 0.9675
