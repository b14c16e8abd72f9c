"""The Transformer chapter: the whole model's hand gradient (the custom_vjp rules, and the
explicit gpt_backward) equals jax.grad in float64; one AdamW step is identical under both
engines; nanoGPT's optimizer, parameter count and data pipeline; sampling; the command line.

Tiny models only, each shape compiled once; the chapter's run is made once per module.
"""

import contextlib
import dataclasses
import io
import json
import math
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxdl.cli import main
from jaxdl.data import text as text_data
from jaxdl.milestones import transformer as tr
from jaxdl.optim import apply_gradients, init_train_state
from tests.trees import assert_trees_match

# (vocab, T, L, C, H, B): one head and several, one position and several.
SHAPES = [(5, 1, 1, 4, 1, 2), (7, 6, 2, 8, 2, 3)]


def _problem(shape, seed, scale):
    v, t, layers, c, h, b = shape
    rng = np.random.default_rng(seed)
    params = tr.init_gpt(
        key=jax.random.key(seed), vocab=v, context=t + 1, layers=layers, width=c, dtype=jnp.float64
    )
    params = jax.tree.map(lambda x: x + scale * rng.normal(size=x.shape) * (x.ndim > 1), params)
    params = params._replace(ln_f=params.ln_f + rng.normal(size=params.ln_f.shape))
    ids = rng.integers(0, v, (b, t + 1))
    return params, tr.TextBatch(jnp.asarray(ids[:, :t]), jnp.asarray(ids[:, 1:])), h


_GRADS = {}


def _grads(heads):
    if heads not in _GRADS:
        _GRADS[heads] = (
            jax.jit(jax.value_and_grad(tr.loss_function(heads, "autodiff"))),
            jax.jit(jax.value_and_grad(tr.loss_function(heads, "hand"))),
            jax.jit(jax.value_and_grad(tr.loss_function(heads, "gpt_backward"))),
        )
    return _GRADS[heads]


@given(
    shape=st.sampled_from(SHAPES),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.02, 0.3, 1.0]),
)
def test_whole_model_gradient_equals_jax_grad(shape, seed, scale):
    params, batch, heads = _problem(shape, seed, scale)
    assert params.wte.dtype == jnp.float64
    auto, hand, walk = _grads(heads)
    value, expected = auto(params, batch)
    # The explicit walk is compiled for the larger shape only (each shape is a compilation).
    engines = (hand, walk) if shape == SHAPES[1] else (hand,)
    for got_value, got in (engine(params, batch) for engine in engines):
        np.testing.assert_allclose(got_value, value, rtol=1e-12)
        assert_trees_match(got, expected, rtol=1e-9, atol=1e-12)


_apply = jax.jit(lambda state, grads: apply_gradients(state, grads, tr.nanogpt_adamw(1e-3)))


def test_one_adamw_step_is_identical_under_both_engines():
    params, batch, heads = _problem(SHAPES[1], 3, 0.3)
    state = init_train_state(params, tr.nanogpt_adamw(1e-3))
    after = [_apply(state, engine(params, batch)[1]) for engine in _grads(heads)]
    for other in after[1:]:
        assert_trees_match(other.params, after[0].params, rtol=1e-12, atol=1e-15)
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), after[0].params, params)
    assert min(jax.tree.leaves(moved)) > 0  # every tensor was updated


def test_uniform_scores_cost_log_vocab_and_the_reference_size():
    params, batch, heads = _problem(SHAPES[1], 0, 0.0)
    zero = jax.tree.map(jnp.zeros_like, params)
    assert float(tr.loss(zero, batch, heads=heads)) == pytest.approx(math.log(7), rel=1e-12)
    shapes = jax.eval_shape(
        lambda: tr.init_gpt(key=jax.random.key(0), vocab=65, context=64, layers=4, width=128)
    )
    # nanoGPT prints "number of parameters: 0.80M" (position table excluded).
    assert tr.count_parameters(shapes) == 795_904


def test_nanogpt_schedule_and_decay_mask():
    lr = tr.nanogpt_schedule(1e-3, warmup=100, decay_steps=2000, min_learning_rate=1e-4)
    np.testing.assert_allclose(
        [lr(0), lr(99), lr(100), lr(1050), lr(2000), lr(2500)],
        [1e-3 / 101, 1e-3 * 100 / 101, 1e-3, 5.5e-4, 1e-4, 1e-4],
        rtol=1e-5,
    )
    mask = tr.decay_mask(None)
    assert mask.wte and mask.blocks.w_qkv and not mask.blocks.ln_1 and not mask.ln_f


def test_random_windows_are_shifted_by_one():
    data = jnp.arange(100, dtype=jnp.int32)
    b = tr.random_windows(data, jax.random.key(0), batch=8, context=10)
    assert b.inputs.shape == (8, 10)
    np.testing.assert_array_equal(b.targets, b.inputs + 1)
    np.testing.assert_array_equal(np.diff(np.asarray(b.inputs), axis=1), 1)


def test_sampling_is_seeded_and_top_1_is_greedy():
    params, _, heads = _problem(SHAPES[1], 1, 0.3)
    params = jax.tree.map(lambda x: x.astype(jnp.float32), params)
    prompt = np.array([1, 2])
    kw = dict(heads=heads, length=5, temperature=1.0)
    a = tr.sample(params, prompt, key=jax.random.key(0), top_k=3, **kw)
    assert a.shape == (5,) and a.min() >= 0 and a.max() < 7
    np.testing.assert_array_equal(
        a, tr.sample(params, prompt, key=jax.random.key(0), top_k=3, **kw)
    )
    greedy = tr.sample(params, prompt, key=jax.random.key(5), top_k=1, **kw)
    # The model is causal: one pass over prompt + greedy text gives every step's scores.
    ids = np.concatenate([prompt, greedy])  # 7 characters: the model's whole context
    logits = tr.forward(params, jnp.asarray(ids[:-1])[None], heads=heads)[0]
    np.testing.assert_array_equal(np.argmax(logits[1:], axis=-1), greedy)
    with pytest.raises(ValueError, match="prompt must hold at least one character"):
        tr.sample(params, np.array([], int), key=jax.random.key(0), **kw)


def test_cached_sampler_reads_as_the_model_and_writes_the_same_text():
    from jaxdl.milestones.transformer import sampling

    params, batch, heads = _problem(SHAPES[1], 2, 0.3)  # float64, context 7
    # One position at a time with the cache gives the scores of the whole window's forward.
    ids = batch.inputs[0]
    cache = sampling.empty_cache(params, heads=heads)
    expected = tr.forward(params, ids[None], heads=heads)[0]
    for pos in range(ids.shape[0]):
        logits, cache = sampling.decode_step(params, cache, ids[pos], pos, heads=heads)
        np.testing.assert_allclose(logits, expected[pos], rtol=1e-12, atol=1e-12)
    # The same key gives the same text, within the context and past it (7 + 9 characters),
    # from a one-character prompt and from a longer one, in float64 and float32.
    for dtype in (jnp.float64, jnp.float32):
        p = jax.tree.map(lambda x, dtype=dtype: x.astype(dtype), params)
        for prompt in (np.array([3]), np.array([1, 2, 4, 0])):
            kw = dict(key=jax.random.key(7), heads=heads, length=16, temperature=1.5, top_k=None)
            np.testing.assert_array_equal(
                tr.sample(p, prompt, cache=True, **kw), tr.sample(p, prompt, cache=False, **kw)
            )


TINY = tr.Config(steps=60, batch=8, context=16, layers=1, width=32, heads=2, learning_rate=3e-3)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """The command line on TINY's settings (the demo's test reuses its compiled programs)."""
    plot = tmp_path_factory.mktemp("tr") / "gpt.png"
    argv = [
        "run",
        "transformer",
        "--steps",
        "60",
        "--batch",
        "8",
        "--context",
        "16",
        "--layers",
        "1",
        "--width",
        "32",
        "--heads",
        "2",
        "--lr",
        "3e-3",
        "--json",
        "--plot",
        str(plot),
        "--sample",
        "--prompt",
        "ROMEO:",
        "--sample-length",
        "40",
    ]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(argv)
    return status, out.getvalue(), plot


def test_demo_prints_losses_and_a_sample(cli_run, capsys):
    from tests.scripts import load_script

    load_script("demos", "transformer").main(["--length", "40"], config=TINY)
    out = capsys.readouterr().out
    assert "validation loss" in out and "a uniform guess scores 4.1744" in out
    assert out.rstrip().split("---\n")[1].startswith("ROMEO:")


def test_cli_run_learns_samples_and_plots(cli_run):
    status, out, plot = cli_run
    assert status == 0
    report = json.loads(out)
    r = report["result"]
    assert r["parameters"] == 65 * 32 + 12 * 32 * 32 + 2 * 32 + 32
    assert r["val_loss"] < r["uniform_loss"] - 0.8  # it learned the character frequencies
    assert r["sample"].startswith("ROMEO:") and len(r["sample"]) == 46
    assert all(c["passed"] for c in report["checks"])
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    data = tr.load_text(None, context=TINY.context)
    kw = dict(key=jax.random.key(0), engine="gpt_backward", eval_every=30, **TINY.settings())
    whole = tr.train_gpt(data, **kw)
    tr.train_gpt(data, run_dir=str(tmp_path), **kw)
    checkpoints = tmp_path / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["30", "60"]
    shutil.rmtree(checkpoints / "60")  # as if killed after step 30
    resumed = tr.train_gpt(data, run_dir=str(tmp_path), resume=True, **kw)
    assert len(resumed.losses) == 30 and resumed.evals["step"] == [0, 30, 60]
    assert_trees_match(resumed.params, whole.params)
    assert resumed.evals == whole.evals
    with pytest.raises(
        ValueError, match=r"used learning_rate=0.003; you asked for learning_rate=0.001"
    ):
        tr.train_gpt(data, run_dir=str(tmp_path), resume=True, **{**kw, "learning_rate": 1e-3})
    with pytest.raises(ValueError, match="already holds a run; pass resume=True"):
        tr.run(dataclasses.replace(TINY, out=str(tmp_path)))


def test_a_run_killed_between_saves_resumes_bit_identical(tmp_path):
    """The Transformer's run directory is the shared one (training/resume.py): a process
    SIGKILLed right after a checkpoint is in place resumes to the run it would have been."""
    import os
    import signal
    import subprocess
    import sys

    from jaxdl.training.checkpoints import KILL_HOOK

    # TINY's settings, checkpointed every 30 steps as the test above trains (compiled once)
    argv = ["run", "transformer", "--steps", "60", "--eval-every", "30", "--batch", "8",
            "--context", "16", "--layers", "1", "--width", "32", "--heads", "2", "--lr", "3e-3",
            "--json"]  # fmt: skip
    env = {**os.environ, KILL_HOOK: "30:rename"}  # SIGKILL itself once checkpoint 30 is saved
    killed = subprocess.run(
        [sys.executable, "-m", "jaxdl", *argv, "--out", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["30"]

    def result(*extra):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main([*argv, *extra]) == 0
        return json.loads(out.getvalue())["result"]

    resumed = result("--out", str(tmp_path), "--resume")
    whole = result()
    assert resumed["evals"] == whole["evals"]  # every estimate to the last bit, step 60's too
    assert resumed["evals"]["step"] == [0, 30, 60]


def test_text_option_and_its_errors(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("to be or not to be " * 10)
    with pytest.raises(ValueError, match="too short for a context of 32"):
        tr.load_text(str(short), context=32)
    data = tr.load_text(str(short), context=8)
    assert data.chars.chars == " benort" and len(data.train) == 171
    binary = tmp_path / "b.bin"
    binary.write_bytes(b"\x00\x01" * 100)
    assert main(["run", "transformer", "--text", str(binary)]) == 2


def test_shakespeare_ships_with_its_checksum():
    content = text_data.shakespeare()
    assert len(content) == 1_115_394 and content.startswith("First Citizen:")
    chars = text_data.Characters.of(content)
    assert len(chars) == 65 and chars.chars[0] == "\n"
    train, val = text_data.split_train_validation(chars.encode(content))
    assert (len(train), len(val)) == (1_003_854, 111_540)
    assert chars.decode(chars.encode("ROMEO:")) == "ROMEO:"


def test_config_refuses_bad_settings():
    with pytest.raises(ValueError, match=r"heads \(3\) must divide width \(64\)"):
        tr.Config(heads=3)
    with pytest.raises(ValueError, match="prompt must hold at least one character"):
        tr.Config(prompt="")
    with pytest.raises(ValueError, match="temperature"):
        tr.Config(temperature=0.0)
