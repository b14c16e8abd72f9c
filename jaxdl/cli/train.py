"""``jaxdl train MODEL``: train a model on MNIST with checkpoints, metrics and a progress bar.

Options left unset take their value from ``--preset`` when one is named, else from
:class:`jaxdl.training.recipe.Recipe`'s defaults (the options are derived from its fields). Bad settings exit with status 2 and one line
(``ValueError``, raised before the first step); a diverging loss exits with status 1; Ctrl-C
(130), SIGTERM (143) or SIGHUP (129) at any moment exits with one line saying which epochs are
saved and the command that continues. One process trains in a run directory at a time
(:mod:`jaxdl.training.rundir`): a second is refused with status 2, naming the first.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import time
from pathlib import Path

from jaxdl.cli.options import add_config_arguments, given_options
from jaxdl.errors import TrainingInterrupted
from jaxdl.models import MODELS
from jaxdl.report import strict_json
from jaxdl.training.recipe import PRESETS, Recipe, preset

SEVERAL = "several processes or machines"


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    """What ``jaxdl train`` takes besides the model and the recipe: one option per field."""

    data: str = dataclasses.field(
        default="sample",
        metadata={
            "metavar": "sample|download|DIR",
            "help": "the embedded 10000-digit sample, the full MNIST download, or a directory "
            "with the four IDX files",
        },
    )
    preset: str | None = dataclasses.field(
        default=None,
        metadata={
            "choices": tuple(PRESETS),
            "help": "a named recipe (tflearn: seed 000's); options given explicitly override it",
        },
    )
    validation_fraction: float = dataclasses.field(
        default=0.1,
        metadata={"help": "part of the training images held out for validation"},
    )
    out: str | None = dataclasses.field(
        default=None,
        metadata={
            "metavar": "DIR",
            "help": "run directory for checkpoints, metrics.jsonl and TensorBoard events "
            "(default: runs/MODEL-TIMESTAMP)",
        },
    )
    resume: bool = dataclasses.field(
        default=False,
        metadata={"switch": True, "help": "continue the run in --out from its last checkpoint"},
    )
    json: bool = dataclasses.field(
        default=False, metadata={"switch": True, "help": "print one JSON object, no progress bar"}
    )
    coordinator: str | None = dataclasses.field(
        default=None,
        metadata={
            "group": SEVERAL,
            "metavar": "HOST:PORT",
            "help": "process 0's address and a free port, the same for every process",
        },
    )
    num_processes: int | None = dataclasses.field(
        default=None,
        metadata={"group": SEVERAL, "metavar": "N", "help": "how many processes take part"},
    )
    process_id: int | None = dataclasses.field(
        default=None,
        metadata={"group": SEVERAL, "metavar": "I", "help": "this process's number, 0 to N-1"},
    )
    join_timeout: float = dataclasses.field(
        default=60.0,
        metadata={
            "group": SEVERAL,
            "metavar": "SECONDS",
            "help": "how long a process waits for the others to join before it gives up with "
            "status 2 (at most 3600; Ctrl-C or SIGTERM ends the wait at once)",
        },
    )


def add_train_command(commands: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand to the ``jaxdl`` parser's subcommands."""
    p = commands.add_parser(
        "train",
        help="train a model on MNIST (checkpoints, metrics, resume, data parallel)",
        description="Train a model on MNIST with checkpoints, metrics and a progress bar.",
    )
    p.add_argument("model", choices=tuple(MODELS), help="the model to train")
    add_config_arguments(p, Recipe, unset_is_none=True)
    add_config_arguments(p, TrainOptions, groups={SEVERAL: (
        "start the same command once per process, changing only --process-id; process 0 "
        "writes --out. Unset values come from JAX's environment variables "
        "(JAX_COORDINATOR_ADDRESS; Slurm's or Open MPI's process count and rank)"
    )})  # fmt: skip
    p.set_defaults(handler=cmd_train)


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    """The recipe the options ask for: the preset (or defaults) with the given options applied."""
    given = given_options(Recipe, args)
    if args.preset:
        return preset(args.preset, **given)
    return Recipe(**given)


def _print_summary(model, recipe: Recipe) -> None:
    import jax
    import jax.numpy as jnp

    params = model.init_params(jax.random.key(0), dtype=jnp.float32)
    print(model.summary(params).format())
    fields = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(recipe).items())
    print(f"recipe: {fields}", flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    """Run ``jaxdl train``; returns the exit status."""
    from jaxdl import interrupts
    from jaxdl.training import distributed, rundir

    recipe = recipe_from_args(args)
    if args.resume and not args.out:
        raise ValueError("--resume needs --out DIR, the run directory to continue")
    several = (args.coordinator, args.num_processes, args.process_id)
    if distributed.requested(*several):
        _keep_stdout_for_the_result()
        _join(args, several)  # before any JAX computation
    quiet = args.json or not distributed.is_primary()  # process 0 alone reports
    run_dir = Path(args.out or f"runs/{args.model}-{time.strftime('%Y%m%d-%H%M%S')}")
    if not distributed.is_multiprocess():  # (several processes: fit checks it on process 0)
        # A bad --out, a directory another process trains in, a new run over an old one, or a
        # --resume with nothing to continue: refused before any work. The directory itself is
        # created only once the data is known good (by fit).
        rundir.check_creatable(run_dir)
        if run_dir.is_dir():
            rundir.acquire(run_dir)
        if run_dir.is_dir() or args.resume:
            rundir.check_contents(run_dir, resume=args.resume)
        if args.resume and saved_epoch(run_dir) > recipe.epochs:
            raise ValueError(
                f"--resume: the run in {str(run_dir)!r} has already trained "
                f"{saved_epoch(run_dir)} epochs, more than --epochs {recipe.epochs}; ask for "
                "at least as many to continue it"
            )
    interrupts.set_last_words(lambda: stopped_line(args, run_dir, None))
    try:
        return _train_and_report(args, recipe, run_dir, quiet)
    except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM, SIGHUP: the CLI prints the one line
        raise interrupts.Stopped(stopped_line(args, run_dir, stop)) from None


def _train_and_report(args, recipe: Recipe, run_dir: Path, quiet: bool) -> int:
    from jaxdl.training import distributed, sharding
    from jaxdl.training.mnist import load_model

    model = load_model(args.model)
    recipe = dataclasses.replace(  # the devices in use, as the recipe line and --json show them
        recipe,
        devices=sharding.devices_for(
            recipe.devices,
            splits_batch=getattr(model, "SPLITS_BATCH", False),
            batch_size=recipe.batch_size,
        ),
    )
    progress = not quiet and sys.stderr.isatty()
    if not quiet:
        _print_summary(model, recipe)
        if distributed.is_multiprocess():
            import jax

            print(f"processes: {jax.process_count()}, devices in all: {jax.device_count()}")

    def report_epoch(record) -> None:
        if not quiet:
            print(
                f"epoch {record['epoch']:3d}  loss {record['loss']:.4f}  "
                f"acc {record['accuracy']:.4f}  val_loss {record['val_loss']:.4f}  "
                f"val_acc {record['val_accuracy']:.4f}  {record['seconds']:.1f}s  "
                f"{record['images_per_second']:.0f} img/s",
                flush=True,
            )

    run = _train(args, model, recipe, run_dir, progress, report_epoch)
    result = run.result() | {"run_dir": str(run_dir)}
    if not distributed.is_primary():
        return 0
    if args.json:
        config = dataclasses.asdict(recipe) | {
            "model": args.model,
            "data": str(args.data),
            "validation_fraction": args.validation_fraction,
            "preset": args.preset,
            "processes": distributed.process_count(),
        }
        print(strict_json({"command": "train", "config": config, "result": result}))
    else:
        print(
            f"test accuracy {run.test_accuracy:.4f} (best epoch {run.fit.best_epoch}, "
            f"{run.fit.images_per_second:.0f} images/s, compiled in {run.fit.compile_seconds:.1f}s)"
        )
        if run.fit.stopped_early:
            print(f"stopped early: no better validation accuracy for {recipe.patience} epochs")
        print(f"run directory: {run_dir} (tensorboard --logdir {run_dir / 'tensorboard'})")
    return 0


def _train(args, model, recipe, run_dir, progress, report_epoch):
    from jaxdl.training.mnist import train_mnist

    return train_mnist(
        args.model,
        recipe,
        data=args.data,
        validation_fraction=args.validation_fraction,
        run_dir=run_dir,
        resume=args.resume,
        progress=progress,
        on_epoch_end=report_epoch,
        model=model,
        notify=lambda note: print(f"jaxdl: {note}", file=sys.stderr, flush=True),
    )


#: The longest --join-timeout: processes of one run start together (Slurm, MPI, a Kubernetes
#: job); an hour covers a slow scheduler, and a longer wait is a process nobody will join.
MAX_JOIN_TIMEOUT = 3600.0


def _join(args: argparse.Namespace, several) -> None:
    """Join the other processes within ``--join-timeout`` seconds and check that every process
    runs the same settings; else one line and status 2 on each.

    JAX's own failures here are C++ aborts after minutes (process 0 alone waited 309 s, then
    "another task died"; different models met gloo's "collective mismatch" after 103 s): a
    watchdog ends the wait first, and the settings are compared before the first collective of
    the training itself.
    """
    from jaxdl import interrupts
    from jaxdl.training import distributed

    timeout = args.join_timeout
    if not 0 < timeout <= MAX_JOIN_TIMEOUT:
        raise ValueError(
            f"--join-timeout must be a number of seconds in (0, {MAX_JOIN_TIMEOUT:g}], got "
            f"{timeout!r}"
        )
    where = args.coordinator or os.environ.get(distributed.COORDINATOR_ENV, "the coordinator")

    def give_up() -> None:
        print(
            f"jaxdl: error: the processes did not all join at {where} within {timeout:g} s "
            "(--join-timeout): start every process, with the same --coordinator and "
            "--num-processes, each --process-id once",
            file=sys.stderr,
            flush=True,
        )
        interrupts.exit_now(2)

    line = f"while waiting for the other processes to join at {where}; nothing was trained"
    with interrupts.blocking(line, timeout=timeout, on_timeout=give_up):  # Ctrl-C ends the wait
        distributed.initialize(*several, initialization_timeout=int(timeout) + 120)
        settings = {
            key: value
            for key, value in sorted(vars(args).items())
            if key not in _PER_PROCESS and isinstance(value, str | int | float | bool | None)
        }
        distributed.check_same_everywhere(
            "settings (model, data, recipe)", distributed.fingerprint(settings)
        )


#: Options that may differ between the processes of one run.
_PER_PROCESS = frozenset({"process_id", "coordinator", "out", "json", "join_timeout", "argv"})


def _keep_stdout_for_the_result() -> None:
    """Point file descriptor 1 at stderr, and Python's ``sys.stdout`` at the real stdout.

    gloo (the CPU collectives of a multi-process run) prints "[Gloo] Rank 0 is connected to 1
    peer ranks..." from C++ straight to descriptor 1, which made ``--json`` unparseable; now
    what C++ writes there lands on stderr, and stdout carries only what this command prints.
    """
    import os

    sys.stdout.flush()
    real_stdout = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = open(real_stdout, "w", buffering=1, closefd=True)  # noqa: SIM115


def saved_epoch(run_dir: Path) -> int:
    """The newest epoch with a checkpoint in ``run_dir`` (0: none)."""
    from jaxdl.training.rundir import CHECKPOINT_DIR

    try:
        names = [p.name for p in (run_dir / CHECKPOINT_DIR).iterdir() if p.is_dir()]
    except OSError:
        return 0
    return max((int(name) for name in names if name.isdigit()), default=0)


def stopped_line(args: argparse.Namespace, run_dir: Path, stop: BaseException | None) -> str:
    """What an interrupted run says after ``interrupted``: where it stopped, which epochs are
    saved, and the command that continues (or starts again, when none is)."""
    if isinstance(stop, TrainingInterrupted):  # (a save the signal waited for counts too)
        where, saved = f"in epoch {stop.epoch}", max(stop.saved_epoch, saved_epoch(run_dir))
    else:  # start-up, loading, compiling, the test set, or a second signal: read the directory
        saved = saved_epoch(run_dir)
        where = "before the first epoch" if not saved else f"after epoch {saved}"
        if saved and saved >= getattr(args, "epochs", saved + 1):
            where += ", the last"
        where = where if stop is not None else ""
    if not saved:
        again = resume_command(args, run_dir, resume=False)
        text = f"no epoch is saved; start again with `{again}`"
    else:
        # (not "epochs 1..N are saved": the newest checkpoints alone are kept)
        text = f"saved after epoch {saved}; continue with `{resume_command(args, run_dir)}`"
    return f"{where}; {text}" if where else text


def resume_command(args: argparse.Namespace, run_dir: Path, *, resume: bool = True) -> str:
    """The ``jaxdl train`` command line that continues this run: the same options, with
    ``--resume --out DIR`` (``resume=False``: without ``--resume``, to start it again)."""
    kept, skip = [], False
    for word in args.argv:
        if skip:
            skip = False
        elif word in ("--resume",):
            continue
        elif word == "--out":
            skip = True
        elif not word.startswith("--out="):
            kept.append(word)
    return shlex.join(["jaxdl", *kept, *(["--resume"] if resume else []), "--out", str(run_dir)])
