"""Seed 001's Keras example: load, build, compile, fit, evaluate, on the PIMA diabetes table.

The seed loads the 768-row PIMA CSV and evaluates on its own training rows; jaxdl ships MASS's
532 complete records with their published 200 / 332 split and reports held-out accuracy.

    python demos/tabular_mlp.py
"""

from __future__ import annotations

import jax
import optax

from jaxdl.data import tables
from jaxdl.milestones.tabular_mlp import Dense, Sequential


def main(epochs: int = 150, batch_size: int = 10, seed: int = 0) -> dict[str, float]:
    """Run the five steps and print Keras-style progress; returns the held-out scores."""
    # 1. Load the data (and standardise it with the training rows' statistics).
    train, test = tables.pima("train"), tables.pima("test")
    scale = tables.fit_standardizer(train.features)
    x_train, x_test = scale(train.features), scale(test.features)
    print(
        f"PIMA diabetes (MASS): {len(train.labels)} train rows, {len(test.labels)} test rows, "
        f"{len(train.feature_names)} features: {', '.join(train.feature_names)}"
    )
    # 2. Create the model.
    model = Sequential([Dense(12, "relu"), Dense(8, "relu"), Dense(1, "sigmoid")])
    model.build(x_train.shape[1], key=jax.random.key(seed))
    print(model.summary())
    # 3. Compile it.
    model.compile(optax.adam(0.001), "binary_crossentropy")
    # 4. Fit it (all epochs run in one jitted scan; the history comes back at the end).
    history = model.fit(
        x_train, train.labels, epochs=epochs, batch_size=batch_size, key=jax.random.key(seed + 1)
    )
    for epoch in sorted({1, *range(10, epochs + 1, 10), epochs}):
        print(
            f"Epoch {epoch}/{epochs} - loss: {history.loss[epoch - 1]:.4f} - "
            f"acc: {history.accuracy[epoch - 1]:.4f}"
        )
    # 5. Evaluate it, on the training rows (as the seed does) and on the held-out rows.
    scores = model.evaluate(x_test, test.labels)
    print(f"\ntrain acc: {model.evaluate(x_train, train.labels)['accuracy'] * 100:.2f}%")
    print(f"held-out test acc: {scores['accuracy'] * 100:.2f}%")
    return scores


if __name__ == "__main__":
    main()
