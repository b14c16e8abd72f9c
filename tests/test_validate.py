"""Shared value checks: the bounds every chapter's Config and the training Recipe share, and
output paths refused before any work."""

import dataclasses

import pytest

from jaxdl import milestones
from jaxdl.training.recipe import Recipe
from jaxdl.validate import require_writable_file

CONFIGS = [pytest.param(m.load().Config, id=m.name) for m in milestones.MILESTONES]
CONFIGS.append(pytest.param(Recipe, id="recipe"))


BOUNDED_BY_NAME = {"steps", "epochs", "hidden", "batch", "batch_size", "seed", "seeds"}


@pytest.mark.parametrize("config_cls", CONFIGS)
def test_the_usual_integer_settings_declare_their_bounds(config_cls):
    for field in dataclasses.fields(config_cls):
        if field.name in BOUNDED_BY_NAME:
            assert "bounds" in field.metadata, f"{config_cls.__qualname__}.{field.name}"


@pytest.mark.parametrize("config_cls", CONFIGS)
def test_every_bounded_setting_is_refused_one_past_its_bounds(config_cls):
    bounded = [f for f in dataclasses.fields(config_cls) if "bounds" in f.metadata]
    for field in bounded:
        name, (low, high) = field.name, field.metadata["bounds"]
        for bad in (high + 1, low - 1, 10**20):
            with pytest.raises(ValueError) as info:
                config_cls(**{name: bad})
            message = str(info.value)
            assert f"between {low} and {high}, got {bad}" in message, (name, message)


def test_the_issue_examples_name_their_bound():
    from jaxdl.milestones import backprop, elman_rnn, gradient_descent

    cases = [
        (gradient_descent.Config, {"steps": 100_000_000_000}, "steps must be an integer between 1 and"),
        (gradient_descent.Config, {"steps": 99999999999999999999}, "between 1 and 10000000"),
        (backprop.Config, {"seeds": 1_000_000_000}, "seeds must be an integer between 0 and 10000"),
        (elman_rnn.Config, {"hidden": 100_000_000}, "hidden must be an integer between 1 and 4096"),
        (Recipe, {"seed": 2**70}, "seed must be an integer between 0 and 4294967295"),
    ]  # fmt: skip
    for config_cls, kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            config_cls(**kwargs)


def test_require_writable_file_returns_the_path_as_given(tmp_path):
    assert require_writable_file("--plot", tmp_path / "new" / "x") == tmp_path / "new" / "x"
    assert not (tmp_path / "new").exists()  # nothing created by the check
