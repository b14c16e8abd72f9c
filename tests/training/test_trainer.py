"""The one trainer: chunks change nothing, divergence names its step, the stop rule stops."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.errors import DivergenceError
from jaxdl.training import trainer

OPTIMIZER = optax.sgd(0.1)


def quadratic(params, batch):
    return jnp.sum((params - batch) ** 2)


def noisy_target(*, key):
    return jax.random.normal(key, (3,))


def test_chunking_gives_the_same_run():
    feed = trainer.fresh(noisy_target, key=jax.random.key(0))
    whole = trainer.train(quadratic, jnp.zeros(3), OPTIMIZER, feed, steps=12)
    chunked = trainer.train(quadratic, jnp.zeros(3), OPTIMIZER, feed, steps=12, chunk_steps=5)
    np.testing.assert_array_equal(whole.losses, chunked.losses)
    np.testing.assert_array_equal(whole.state.params, chunked.state.params)
    assert int(chunked.state.step) == 12 and whole.losses.shape == (12,)


def test_continuing_a_state_equals_one_run():
    feed = trainer.fresh(noisy_target, key=jax.random.key(1))
    whole = trainer.train(quadratic, jnp.zeros(3), OPTIMIZER, feed, steps=8)
    first = trainer.train(quadratic, jnp.zeros(3), OPTIMIZER, feed, steps=3)
    rest = trainer.train(
        quadratic, first.state, OPTIMIZER, feed._replace(state=first.feed_state), steps=5
    )
    np.testing.assert_array_equal(whole.state.params, rest.state.params)
    assert int(rest.state.step) == 8


def test_a_non_finite_loss_names_its_step():
    def blows_up(params, batch):
        return jnp.sum(params**2) * jnp.exp(batch)

    feed = trainer.Feed(jnp.float32(0.0), lambda s: (s + 100.0, s))
    with pytest.raises(DivergenceError, match="at step 2"):
        trainer.train(blows_up, jnp.ones(2), OPTIMIZER, feed, steps=5, chunk_steps=1)


def test_stop_rule_ends_after_its_chunk_and_aux_is_stacked():
    def with_aux(params, batch):
        loss = quadratic(params, batch)
        return loss, loss < 1.0

    def first_small(losses, small, since):
        hits = np.flatnonzero(small[since:])
        return since + int(hits[0]) + 1 if len(hits) else None

    run = trainer.train(
        with_aux,
        jnp.full(3, 3.0),
        OPTIMIZER,
        trainer.fixed(jnp.zeros(3)),
        steps=100,
        has_aux=True,
        chunk_steps=4,
        stop=first_small,
    )
    assert run.stopped_at is not None and len(run.losses) % 4 == 0
    assert run.aux.shape == run.losses.shape and run.aux[run.stopped_at - 1]


@pytest.mark.parametrize("steps", [0, -1, 2.5, True])
def test_bad_step_counts_are_refused(steps):
    with pytest.raises(ValueError, match="steps"):
        trainer.train(quadratic, jnp.zeros(3), OPTIMIZER, trainer.fixed(jnp.zeros(3)), steps=steps)


def test_shuffled_epochs_visit_each_epoch_s_order_drawn_once():
    """Epoch e's batches are shuffled_batch_indices(keys[e]) in turn; the order is drawn at the
    epoch's first step and carried (a permutation per step cost 3.5 ms on 8000 digits)."""
    from jaxdl.data.batches import shuffled_batch_indices

    data = (jnp.arange(40.0).reshape(20, 2), jnp.arange(20, dtype=jnp.int32))
    keys = jax.random.split(jax.random.key(1), 3)
    feed, steps = trainer.shuffled_epochs(data, batch_size=6, keys=keys)
    assert steps == 3
    state, step = feed.state, jax.jit(feed.next)
    for e in range(3):
        order = np.asarray(shuffled_batch_indices(keys[e], 20, 6))
        for s in range(steps):
            state, (_, labels) = step(state)
            np.testing.assert_array_equal(labels, order[s])
