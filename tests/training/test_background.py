import json
import threading
import time

import jax
import jax.numpy as jnp
import pytest

from jaxdl.training.background import BackgroundWriter


@jax.jit
def _step(w, x):
    # A stand-in for a jitted training step: some real device work.
    return w - 0.01 * (x.T @ jnp.tanh(x @ w)) / x.shape[0]


def _train(steps, on_step=None):
    w = jnp.zeros((64, 64), jnp.float32)
    x = jnp.ones((128, 64), jnp.float32)
    _step(w, x).block_until_ready()  # compile outside the timing
    start = time.perf_counter()
    for i in range(steps):
        w = _step(w, x)
        w.block_until_ready()
        if on_step is not None:
            on_step(i, w)
    return time.perf_counter() - start


def test_slow_writer_does_not_slow_the_step_rate():
    steps, delay = 100, 0.05  # the writer needs 5 s for the plots, 0.5 s for the metrics
    written, plotted = [], []

    def write_metrics(i):
        time.sleep(delay)
        written.append(i)

    def draw_plot(i):
        time.sleep(delay)
        plotted.append(i)

    baseline = _train(steps)
    with BackgroundWriter(maxsize=16) as writer:

        def on_step(i, w):
            if i % 10 == 0:
                writer.submit(write_metrics, i)  # must run: never dropped
            writer.submit(draw_plot, i, droppable=True)  # superseded by the next one

        with_writer = _train(steps, on_step)
    # Writing inline would add steps * delay = 5 s (plus 0.5 s of metrics); off the thread the
    # loop runs at its own pace. Generous absolute margin: timings on a shared CPU are noisy.
    assert with_writer < baseline + 1.0, (with_writer, baseline)
    assert written == list(range(0, steps, 10))  # every metrics record, in order
    assert writer.dropped > 0 and len(plotted) + writer.dropped == steps
    assert plotted == sorted(plotted) and plotted[-1] == steps - 1  # the newest plot survives


def test_tasks_run_in_order_and_close_flushes():
    seen = []
    writer = BackgroundWriter(maxsize=2)
    for i in range(20):
        writer.submit(lambda i=i: (time.sleep(0.001), seen.append(i)))  # blocks when full
    writer.close()
    assert seen == list(range(20)) and writer.completed == 20 and writer.dropped == 0
    writer.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        writer.submit(print)


def test_flush_waits_and_times_out():
    gate = threading.Event()
    with BackgroundWriter() as writer:
        writer.submit(gate.wait)
        assert writer.flush(timeout=0.05) is False
        gate.set()
        assert writer.flush(timeout=5) is True


def test_worker_error_is_raised_in_the_main_thread():
    def broken():
        raise OSError("disk full")

    writer = BackgroundWriter()
    writer.submit(broken)
    with pytest.raises(OSError, match="disk full"):
        writer.flush()
    with pytest.raises(ValueError, match="closed"):  # raised once, then the writer is shut
        writer.submit(print)
    writer.close()


def test_worker_error_on_next_submit_and_later_tasks_skipped():
    ran = []
    gate = threading.Event()
    writer = BackgroundWriter()
    writer.submit(gate.wait)
    writer.submit(lambda: 1 / 0)
    writer.submit(ran.append, "after the error")
    gate.set()
    deadline = time.monotonic() + 5
    with pytest.raises(ZeroDivisionError):
        while time.monotonic() < deadline:
            writer.submit(ran.append, "more")
            time.sleep(0.01)
    writer.close()
    assert "after the error" not in ran


def test_error_on_close_and_context_manager():
    with pytest.raises(RuntimeError, match="boom"):
        with BackgroundWriter() as writer:
            writer.submit(lambda: (_ for _ in ()).throw(RuntimeError("boom")))


def test_keyboard_interrupt_still_flushes():
    written = []
    with pytest.raises(KeyboardInterrupt):
        with BackgroundWriter(maxsize=8) as writer:
            for i in range(5):
                writer.submit(lambda i=i: (time.sleep(0.01), written.append(i)))
            raise KeyboardInterrupt
    assert written == [0, 1, 2, 3, 4]


def test_droppable_gives_way_to_must_run_tasks():
    gate = threading.Event()
    with BackgroundWriter(maxsize=2) as writer:
        writer.submit(gate.wait)
        writer.flush(timeout=0.05)  # let the worker pick the blocking task up
        writer.submit(print, end="")
        writer.submit(print, end="")
        writer.submit(print, droppable=True)  # full of must-run tasks: the plot is dropped
        assert writer.dropped == 1 and writer.pending == 2
        gate.set()


@pytest.mark.parametrize("maxsize", [0, -1, 1.5])
def test_bad_arguments(maxsize):
    with pytest.raises(ValueError, match="maxsize"):
        BackgroundWriter(maxsize=maxsize)


def test_not_callable():
    with BackgroundWriter() as writer:
        with pytest.raises(ValueError, match="callable"):
            writer.submit("not a function")


def test_training_loop_writes_metrics_off_its_thread(tmp_path, monkeypatch):
    from jaxdl.data import Batch
    from jaxdl.training import Recipe, fit, metrics
    from tests.training import tiny_model

    original = metrics.MetricsWriter.write
    writers = []

    def slow_write(self, record):
        time.sleep(0.2)  # a slow disk
        writers.append(threading.current_thread().name)
        original(self, record)

    monkeypatch.setattr(metrics.MetricsWriter, "write", slow_write)
    train = Batch(*tiny_model.make_data(256))
    valid = Batch(*tiny_model.make_data(64, seed=1))
    recipe = Recipe(epochs=3, batch_size=32, learning_rate=0.05, chunk_steps=4)
    result = fit(tiny_model, train, valid, recipe, run_dir=tmp_path / "run")
    # Every record was written, by the background worker, and all of them before fit returned.
    assert writers == ["jaxdl-background-writer"] * 3
    assert metrics.read_metrics(tmp_path / "run") == json.loads(json.dumps(result.history))
