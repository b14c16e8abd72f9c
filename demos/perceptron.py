"""Seed 000's perceptron: learn OR from a random start, then watch XOR defeat it.

Prints what the seed's printing loop meant to print (its version used an undefined ``w`` and a
stale ``input``): for each input, the weighted sum and the prediction.

    python demos/perceptron.py
"""

from __future__ import annotations

import jax

from jaxdl.milestones import perceptron


def main(seed: int = 0) -> None:
    """Train on OR the seed's way (lr 0.2, 100 random picks) and print; then the same on XOR."""
    jax.config.update("jax_enable_x64", True)  # the seed computes in NumPy float64
    key_init, key_picks = jax.random.split(jax.random.key(seed))
    start = perceptron.init_weights(key=key_init)
    for gate in ("or", "xor"):
        data = perceptron.gate_data(gate)
        trace = perceptron.train(
            start, data.inputs, data.targets, key=key_picks, learning_rate=0.2, steps=100
        )
        print(f"{gate.upper()} after 100 random picks ({trace.mistakes} mistakes on the way):")
        for line in perceptron.seed_printout(trace.weights, data.inputs):
            print(line)
        epochs = perceptron.train_until_converged(
            start, data.inputs, data.targets, learning_rate=0.2, max_epochs=1000
        )
        if bool(epochs.converged):
            print(f"epoch training: converged after {int(epochs.epochs)} passes")
        else:
            print(
                f"epoch training: not converged after {int(epochs.epochs)} passes "
                "(XOR is not linearly separable: no line splits its 0s from its 1s)"
            )
        print()


if __name__ == "__main__":
    main()
