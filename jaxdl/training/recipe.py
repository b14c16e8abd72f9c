"""How to train: the one declaration of the training settings.

:class:`Recipe` is what :func:`jaxdl.training.fit` takes, what ``jaxdl train`` turns into its
options (each field's ``metadata`` gives the option's help and flag, see
:mod:`jaxdl.cli.options`), and what the deep-CNN chapter's ``Config`` extends with its own
defaults. Add a setting here and it reaches all three.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any, Literal

from jaxdl.backward import BACKWARDS, Backward
from jaxdl.validate import (
    BATCH,
    EPOCHS,
    SEED,
    check_limits,
    require_int,
    require_positive_float,
    require_positive_int,
)

Optimizer = Literal["adam", "sgd"]
Schedule = Literal["constant", "cosine"]
OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")
SCHEDULES: tuple[str, ...] = ("constant", "cosine")


def require_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose {' or '.join(map(repr, choices))}")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Optimizer, schedule, batch size, stopping rule, seed and devices of a training run.

    The defaults (Adam, learning rate 0.001 decayed to zero along a cosine, batch 64, 15 epochs)
    trained the deep CNN best among the recipes compared for the deep-CNN chapter (see
    ``docs/chapters/deep_cnn.md``); the seed's Adam at 0.01 oscillates (:data:`PRESETS`
    ``"tflearn"`` keeps it).
    """

    epochs: int = field(
        default=15, metadata={"bounds": EPOCHS, "help": "passes over the training set"}
    )
    batch_size: int = field(default=64, metadata={"bounds": BATCH, "help": "examples per step"})
    learning_rate: float = field(
        default=1e-3, metadata={"help": "step size (the peak of the schedule)", "flag": "--lr"}
    )
    optimizer: Optimizer = field(default="adam", metadata={"help": "adam, or sgd with momentum"})
    momentum: float = field(default=0.9, metadata={"help": "heavy-ball momentum (sgd only)"})
    schedule: Schedule = field(
        default="cosine",
        metadata={"help": "learning rate over the run: constant, or a cosine decay to zero"},
    )
    patience: int = field(
        default=0,
        metadata={
            "bounds": (0, 100_000),
            "help": "stop after this many epochs without a better validation accuracy; 0: never",
        },
    )
    seed: int = field(
        default=0,
        metadata={"bounds": SEED, "help": "seed of the initialisation, split and shuffles"},
    )
    devices: int = field(
        default=0,
        metadata={
            "bounds": (0, 4_096),
            "help": "data-parallel devices the batch is split across; 0: every CPU core when "
            "the model gains from it (the deep CNN does, the MLP does not), else 1",
        },
    )
    chunk_steps: int = field(
        default=1,
        metadata={
            "bounds": (1, 100_000),
            "help": "steps per jitted call (a lax.scan when > 1; see jaxdl.training.trainer)",
        },
    )
    log_every: int = field(
        default=50,
        metadata={
            "bounds": (1, 10_000_000),
            "help": "steps between host reads of the losses (NaN check, bar)",
        },
    )
    eval_batch_size: int = field(
        default=1000, metadata={"bounds": BATCH, "help": "examples per evaluation call"}
    )
    backward: Backward = field(
        default="auto",
        metadata={
            "help": "gradients by the hand-derived custom_vjp rules (hand) or by jax.grad of the "
            "pure forward (autodiff); auto: the faster on this platform "
            "(jaxdl.nn.BACKWARD_BY_PLATFORM)"
        },
    )

    def __post_init__(self):
        # The learning rate has no top here: fit stops at the first non-finite loss, naming it.
        check_limits(self)
        for name in ("epochs", "batch_size", "chunk_steps", "log_every", "eval_batch_size"):
            require_positive_int(name.replace("_", " "), getattr(self, name))
        require_int("devices", self.devices, minimum=0)
        require_positive_float("learning rate", self.learning_rate)
        require_choice("optimizer", self.optimizer, OPTIMIZERS)
        require_choice("schedule", self.schedule, SCHEDULES)
        require_choice("backward", self.backward, BACKWARDS)
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        require_int("patience", self.patience, minimum=0)
        require_int("seed", self.seed)

    def recipe(self) -> Recipe:
        """The plain :class:`Recipe` of these settings (drops fields a subclass adds)."""
        return Recipe(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Recipe)})


#: Named recipes. "tflearn" is seed 000's: Adam with learning rate 0.01, batch 64, 20 epochs.
PRESETS: dict[str, dict[str, Any]] = {
    "tflearn": dict(
        optimizer="adam", learning_rate=0.01, batch_size=64, epochs=20, schedule="constant"
    ),
}


def preset(name: str, **overrides: Any) -> Recipe:
    """The named recipe from :data:`PRESETS`, with ``overrides`` applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return Recipe(**(PRESETS[name] | overrides))
