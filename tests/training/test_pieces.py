"""The pieces a run adds to the trainer: evaluation at its steps, early stopping at the right
step with the best parameters, metrics lines, and a checkpoint that resumes bit-identical."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl.optim import init_train_state
from jaxdl.training import trainer
from jaxdl.training.metrics import read_metrics
from jaxdl.training.pieces import Checkpoint, EarlyStopping, Evaluation, Metrics
from jaxdl.training.resume import RunDirectory

OPTIMIZER = optax.sgd(0.05)
CHUNK = 2  # every run below shares one compiled chunk
TARGETS = jax.random.normal(jax.random.key(0), (16, 3))


def quadratic(params, batch):
    value = jnp.mean(jnp.sum((params[None] - batch) ** 2, axis=-1))
    return value, 2 * value  # an aux to carry


def feed(seed: int = 1) -> trainer.Feed:
    return trainer.sampled(TARGETS, batch_size=4, key=jax.random.key(seed))


def run(steps: int, state=None, feed_=None, hooks=()):
    return trainer.train(quadratic, jnp.zeros(3) if state is None else state, OPTIMIZER,
                         feed_ or feed(), steps=steps, has_aux=True, chunk_steps=CHUNK,
                         hooks=hooks)  # fmt: skip


def norm(params, step):
    return {"norm": float(jnp.sum(params**2))}


def test_evaluation_records_every_k_steps_and_the_last():
    evaluation = Evaluation(norm, every=4, last=10)
    evaluation.add(jnp.zeros(3), 0)
    trained = run(10, hooks=(evaluation,))
    assert [r["step"] for r in evaluation.history] == [0, 4, 8, 10]
    assert evaluation.history[-1]["norm"] == float(jnp.sum(trained.state.params**2))
    assert evaluation.columns()["step"] == [0, 4, 8, 10]


def test_early_stopping_stops_when_the_patience_runs_out_and_keeps_the_best():
    plateau = Evaluation(lambda params, step: {"score": min(step, 6)}, every=2)
    early = EarlyStopping(plateau, "score", patience=2)
    stopped = run(20, hooks=(plateau, early))
    # best at step 6; steps 8 and 10 do not improve: the run ends after step 10's chunk
    assert stopped.stopped_at == 10 and len(stopped.losses) == 10
    assert early.best == 6 and early.best_step == 6 and early.since_best == 2
    np.testing.assert_array_equal(early.best_params, run(6).state.params)


def test_early_stopping_on_a_loss_waits_for_lower_values():
    plateau = Evaluation(lambda params, step: {"loss": max(10 - step, 4)}, every=2)
    early = EarlyStopping(plateau, "loss", patience=3, higher_is_better=False)
    assert run(20, hooks=(plateau, early)).stopped_at == 12 and early.best_step == 6


def test_metrics_writes_each_record_once_and_a_resume_rewrites_the_file(tmp_path):
    evaluation = Evaluation(norm, every=2)
    metrics = Metrics(tmp_path, evaluation)
    run(4, hooks=(evaluation, metrics))
    metrics.close()
    assert read_metrics(tmp_path) == evaluation.history and len(evaluation.history) == 2
    resumed = Evaluation(norm, every=2, history=evaluation.history[:1])
    Metrics(tmp_path, resumed).close()
    assert read_metrics(tmp_path) == evaluation.history[:1]


def test_a_hook_that_wants_losses_gets_them_and_true_stops():
    seen = []

    def hook(state, feed_state, done, *, losses, aux):
        seen.append((done, len(losses), aux.shape))
        return done == 4

    hook.wants_losses = True
    assert run(10, hooks=(hook,)).stopped_at == 4
    assert seen == [(2, 2, (2,)), (4, 4, (4,))]


def test_a_hook_that_wants_losses_sees_every_step_even_when_reads_lag():
    seen, asked = [], []

    def hook(state, feed_state, done, *, losses, aux):
        seen.append((done, len(losses)))

    def stop(losses, aux, since):
        asked.append((since, len(losses)))

    hook.wants_losses = True
    trainer.train(quadratic, jnp.zeros(3), OPTIMIZER, feed(), steps=8, has_aux=True,
                  chunk_steps=CHUNK, read_every=4, stop=stop, hooks=(hook,))  # fmt: skip
    assert seen == [(2, 2), (4, 4), (6, 6), (8, 8)]
    assert asked == [(0, 2), (2, 4), (4, 6), (6, 8)]  # the stop rule misses none of them


def checkpointed(path, resume: bool, steps: int, total: int = 8):
    directory = RunDirectory(path, {"seed": 1}, resume=resume)
    evaluation = Evaluation(norm, every=4)
    checkpoint = Checkpoint(directory, meta=lambda: {"history": evaluation.history},
                            steps=total, aux=np.float32(0))  # fmt: skip
    state, feed_ = init_train_state(jnp.zeros(3), OPTIMIZER), feed()
    if resume:
        state, feed_state, meta = checkpoint.restore(state, feed_.state)
        feed_, evaluation.history = feed_._replace(state=feed_state), meta["history"]
    try:
        trained = run(steps, state, feed_, hooks=(evaluation, checkpoint))
    finally:
        directory.close()
    return checkpoint, evaluation, trained.state


def test_a_checkpointed_run_resumes_bit_identical(tmp_path):
    whole, whole_eval, whole_state = checkpointed(tmp_path / "whole", False, 8)
    checkpointed(tmp_path / "cut", False, 6)
    resumed, resumed_eval, state = checkpointed(tmp_path / "cut", True, 2)
    np.testing.assert_array_equal(state.params, whole_state.params)
    np.testing.assert_array_equal(resumed.losses, whole.losses)
    np.testing.assert_array_equal(resumed.aux_values, whole.aux_values)
    assert resumed.losses.shape == (8,) and int(state.step) == 8
    assert resumed_eval.history == whole_eval.history and len(whole_eval.history) == 2


def test_evaluation_refuses_a_non_positive_every():
    with pytest.raises(ValueError, match="every must be a positive integer"):
        Evaluation(norm, every=0)


def test_early_stopping_resumed_counts_the_records_after_the_best():
    history = [{"epoch": e, "acc": a} for e, a in [(1, 0.5), (2, 0.7), (3, 0.6), (4, 0.65)]]
    source = type("Records", (), {"history": history})()
    early = EarlyStopping(source, "acc", patience=3, step_key="epoch")
    early.resume(0.7, 2, "best")
    assert early.since_best == 2 and not early.ran_out
    history.append({"epoch": 5, "acc": 0.69})
    assert early.update("params") and early.best_params == "best" and early.best_step == 2
