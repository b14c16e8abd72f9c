"""What a milestone run returns: a JSON-ready result plus its gradient checks."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

from jaxdl.gradcheck import GradCheck


def to_jsonable(value: Any) -> Any:
    """Turn arrays, NumPy scalars, tuples and dataclasses into plain JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "__array__") or isinstance(value, np.generic):
        array = np.asarray(value)
        return array.item() if array.ndim == 0 else array.tolist()
    return value


def finite_or_none(value: Any) -> Any:
    """``value`` (plain JSON types) with every NaN or infinity replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value


def strict_json(value: Any) -> str:
    """``value`` as strict JSON (RFC 8259), what every ``--json`` prints.

    Python's ``json.dumps`` writes ``NaN`` and ``Infinity``, which strict parsers (JavaScript's
    ``JSON.parse``, ``jq``, Go, Rust's serde) refuse; here a non-finite number becomes ``null``
    (a diverged run never gets this far: it stops with :class:`~jaxdl.errors.DivergenceError`),
    and ``allow_nan=False`` guarantees nothing else slips through.
    """
    return json.dumps(finite_or_none(to_jsonable(value)), allow_nan=False)


@dataclasses.dataclass(frozen=True)
class Report:
    """The outcome of ``run(config)`` for one milestone.

    Attributes:
      milestone: the milestone's command-line name.
      config: the configuration it ran with.
      result: the numbers it produced (JSON-ready after :func:`to_jsonable`).
      checks: gradient checks made during the run.
      headline: one short line for the tour's summary table.
      plot_data: arrays a plot needs that do not belong in the JSON result.
    """

    milestone: str
    config: Any
    result: dict[str, Any]
    checks: list[GradCheck]
    headline: str
    plot_data: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def checks_passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        """``{"milestone", "config", "result", "checks"}``, plain JSON types only."""
        return {
            "milestone": self.milestone,
            "config": to_jsonable(self.config),
            "result": to_jsonable(self.result),
            "checks": [to_jsonable(c.as_dict()) for c in self.checks],
        }
