"""The MNIST models refuse, at their public ``apply``, inputs that would score silently wrong."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.models import deep_cnn, mnist_mlp

MODELS = [pytest.param(deep_cnn, id="deep-cnn"), pytest.param(mnist_mlp, id="mlp")]


@pytest.mark.parametrize("model", MODELS)
def test_uint8_nan_and_empty_images_are_refused(model):
    params = model.init_params(jax.random.key(0))
    images = np.zeros((2, 28, 28, 1), np.float32)
    assert model.apply(params, images).shape == (2, 10)
    with pytest.raises(ValueError, match="images are uint8; the models take float images"):
        model.apply(params, (images * 255).astype(np.uint8))
    nan = images.copy()
    nan[1, 3, 4, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite pixels .*the first at index 1"):
        model.apply(params, nan)
    with pytest.raises(ValueError, match="empty batch"):
        model.apply(params, images[:0])


def test_an_all_nan_image_no_longer_gives_finite_logits_under_jit():
    # Traced, the NaN check cannot run; ReLU now lets NaN through instead of mapping it to 0.
    params = deep_cnn.init_params(jax.random.key(0))
    logits = jax.jit(deep_cnn.apply)(params, jnp.full((1, 28, 28, 1), jnp.nan, jnp.float32))
    assert np.isnan(np.asarray(logits)).all()


def test_the_chapters_predict_functions_refuse_nan_features():
    from jaxdl.milestones import backprop, tabular_mlp

    params = backprop.seed_init_params()
    x = np.array([[0.0, 0.0, 1.0], [np.nan, 1.0, 1.0]])
    with pytest.raises(ValueError, match=r"inputs hold NaN .*index \(1, 0\)"):
        backprop.predict(params, x)
    model = tabular_mlp.Sequential([tabular_mlp.Dense(2, "relu"), tabular_mlp.Dense(1, "sigmoid")])
    model.build(3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="features hold NaN"):
        model.predict(x)
