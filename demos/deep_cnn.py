"""Seed 000's TFLearn MNIST convnet, rewritten for jaxdl.

The seed builds conv32-pool-LRN-conv64-pool-LRN-fc128(tanh)-dropout-fc256(tanh)-dropout-fc10 in
TFLearn and calls ``model.fit(X, Y, n_epoch=20, validation_set=(testX, testY),
show_metric=True, run_id='convnet_mnist')`` with Adam at 0.01. Here the same network
(:mod:`jaxdl.models.deep_cnn`) trains with the same recipe (the ``tflearn`` preset) through
:func:`jaxdl.training.fit`, printing a TFLearn-style line per epoch. One fix: the seed
validates on the test set, which then no longer measures anything unseen; jaxdl holds out 10%
of the training images for validation and scores the test set once, at the end.

    python demos/deep_cnn.py                      # the embedded 10000-digit sample
    python demos/deep_cnn.py --data download      # full MNIST, 20 epochs as in the seed
"""

from __future__ import annotations

import argparse

from jaxdl.training import preset
from jaxdl.training.mnist import train_mnist


def main(argv: list[str] | None = None) -> None:
    """Train the seed's convnet with the seed's recipe and print its progress and test accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="sample", help="sample, download, or a directory")
    parser.add_argument("--epochs", type=int, default=20, help="n_epoch (the seed's: 20)")
    parser.add_argument("--out", default="runs/convnet_mnist", help="run directory (run_id)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    args = parser.parse_args(argv)

    recipe = preset("tflearn", epochs=args.epochs)

    def show(record: dict) -> None:
        print(
            f"| Adam | epoch: {record['epoch']:03d} | loss: {record['loss']:.5f} - "
            f"acc: {record['accuracy']:.4f} | val_loss: {record['val_loss']:.5f} - "
            f"val_acc: {record['val_accuracy']:.4f} -- {record['seconds']:.1f}s",
            flush=True,
        )

    run = train_mnist(
        "deep-cnn", recipe, data=args.data, run_dir=args.out, resume=args.resume,
        on_epoch_end=show,
    )  # fmt: skip
    print(
        f"Test accuracy: {run.test_accuracy:.4f} ({run.sizes['test']} digits, best epoch "
        f"{run.fit.best_epoch}, {run.fit.images_per_second:.0f} images/s)"
    )


if __name__ == "__main__":
    main()
