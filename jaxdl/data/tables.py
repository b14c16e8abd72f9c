"""Real tables for the tabular MLP: the PIMA diabetes table shipped in the package, and CSV reading.

:func:`pima` returns the 532 complete records of the PIMA Indians diabetes table as the R
package MASS curates them, with MASS's own 200 / 332 train / test split (provenance, columns and
licence in ``jaxdl/data/PIMA.md``). The file's SHA-256 is checked on every load, so a corrupt
or edited copy is refused, never trained on.

:func:`read_table` reads any numeric CSV with a header and one 0/1 label column, for users who
bring their own table (the 768-row PIMA CSV of the Keras tutorials, for one).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.resources
import io
import math
import os
from typing import Literal, NamedTuple

import numpy as np

PIMA_FILE = "pima.csv"
PIMA_SHA256 = "26c3dbb145c31b63febbd03e1011b395b8f3bac84126592b1af15745a521232f"
PIMA_FEATURES = ("npreg", "glu", "bp", "skin", "bmi", "ped", "age")
PIMA_LABEL = "diabetic"


class Table(NamedTuple):
    """A numeric table with a binary label, as host arrays."""

    features: np.ndarray  # [N, F] float64
    labels: np.ndarray  # [N] int64, 0 or 1
    feature_names: tuple[str, ...]  # [F]


def read_table(
    text: str, *, label: str, name: str = "table", drop: tuple[str, ...] = ()
) -> tuple[Table, list[dict[str, str]]]:
    """Parse CSV text with a header: every column but ``label`` and ``drop`` is a numeric feature.

    Args:
      text: the CSV, header first.
      label: the 0/1 label column.
      name: what to call the table in error messages (its path, say).
      drop: non-feature columns to skip (returned in the raw rows all the same).

    Returns:
      ``(table, rows)``: the numeric table and the raw rows as dictionaries.

    Raises:
      ValueError: no header or no rows, a missing label column, a row of the wrong length, a
        value that is not a finite number, or a label other than 0/1; each names the row.
    """
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise ValueError(f"{name}: empty file, expected a CSV header line")
    header = [h.strip() for h in header]
    if label not in header:
        raise ValueError(f"{name}: no label column {label!r} in the header {header}")
    features = [h for h in header if h != label and h not in drop]
    if not features:
        raise ValueError(f"{name}: no feature columns besides {label!r}")
    rows, x, y = [], [], []
    for line, values in enumerate(reader, start=2):
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            raise ValueError(
                f"{name}, line {line}: {len(values)} values but the header has {len(header)} "
                "columns (truncated or corrupt file?)"
            )
        row = dict(zip(header, (v.strip() for v in values), strict=True))
        try:
            numbers = [float(row[f]) for f in features]
            target = float(row[label])
        except ValueError:
            raise ValueError(f"{name}, line {line}: non-numeric value in {values}") from None
        if not all(math.isfinite(v) for v in numbers):
            raise ValueError(f"{name}, line {line}: NaN or infinite value in {values}")
        if target not in (0.0, 1.0):
            raise ValueError(f"{name}, line {line}: label {row[label]!r} is not 0 or 1")
        rows.append(row)
        x.append(numbers)
        y.append(int(target))
    if not rows:
        raise ValueError(f"{name}: the header is there but no data rows follow")
    table = Table(np.asarray(x, np.float64), np.asarray(y, np.int64), tuple(features))
    return table, rows


def read_csv(path: str | os.PathLike, *, label: str) -> Table:
    """Read a numeric CSV file with a header and a 0/1 ``label`` column (see :func:`read_table`)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ValueError(f"table file {os.fspath(path)!r} does not exist") from None
    except (UnicodeDecodeError, IsADirectoryError) as error:
        raise ValueError(
            f"could not read {os.fspath(path)!r} as a CSV text file: {error}"
        ) from None
    return read_table(text, label=label, name=os.fspath(path))[0]


def _pima_bytes() -> bytes:
    return importlib.resources.files("jaxdl.data").joinpath(PIMA_FILE).read_bytes()


def check_pima_bytes(raw: bytes) -> None:
    """``ValueError`` unless ``raw`` is exactly the shipped ``pima.csv`` (SHA-256)."""
    digest = hashlib.sha256(raw).hexdigest()
    if digest != PIMA_SHA256:
        raise ValueError(
            f"{PIMA_FILE} has SHA-256 {digest}, expected {PIMA_SHA256}: the packaged table is "
            "corrupt or was edited; reinstall jaxdl"
        )


def pima(split: Literal["train", "test", "all"] = "all", *, raw: bytes | None = None) -> Table:
    """The PIMA diabetes table (MASS's 532 complete records; see ``jaxdl/data/PIMA.md``).

    Args:
      split: ``"train"`` (MASS ``Pima.tr``, 200 rows), ``"test"`` (``Pima.te``, 332 rows) or
        ``"all"`` (532 rows, train first).
      raw: the file's bytes, for tests; by default the copy inside the package.

    Returns:
      ``Table(features [N, 7] float64, labels [N] 0/1, feature_names)`` with features
      ``npreg, glu, bp, skin, bmi, ped, age`` and label ``diabetic``.

    Raises:
      ValueError: an unknown split, or a file that fails its SHA-256 check.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    raw = _pima_bytes() if raw is None else raw
    check_pima_bytes(raw)
    table, rows = read_table(raw.decode("utf-8"), label=PIMA_LABEL, name=PIMA_FILE, drop=("split",))
    if split == "all":
        return table
    keep = np.array([row["split"] == split for row in rows])
    return Table(table.features[keep], table.labels[keep], table.feature_names)


class Standardizer(NamedTuple):
    """Per-feature ``(x - mean) / std`` fitted on the training rows only."""

    mean: np.ndarray  # [F]
    std: np.ndarray  # [F], zeros replaced by 1

    def __call__(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, np.float64)
        if features.ndim != 2 or features.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"features must have shape [N, {self.mean.shape[0]}], got {features.shape}"
            )
        return (features - self.mean) / self.std


def fit_standardizer(features: np.ndarray) -> Standardizer:
    """Mean and standard deviation of each column of ``features [N, F]`` (N >= 1)."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or features.shape[0] == 0:
        raise ValueError(f"features must be a non-empty [N, F] matrix, got shape {features.shape}")
    std = features.std(axis=0)
    return Standardizer(features.mean(axis=0), np.where(std > 0, std, 1.0))
