"""Regenerate jaxdl/data/mnist_sample.npz: a stratified, seeded subset of the real MNIST.

    python scripts/make_mnist_sample.py --source DIR        # the four official IDX files
    python scripts/make_mnist_sample.py --source download   # mirrors, checksums, cache

The source files must match the published SHA-256 of MNIST exactly (the script refuses
anything else). From the 60000 training images it draws ``--train-per-class`` digits of each
class, and from the 10000 test images ``--test-per-class``, with ``numpy.random.default_rng(seed)``;
the drawn indices are kept in MNIST's order and stored beside the arrays, with the source
checksums, the seed and the licence (MNIST by Y. LeCun and C. Cortes, CC BY-SA 3.0), so anyone
can check that every digit is the MNIST digit it claims to be. The arrays are reproducible
bit for bit; the zip container's timestamps are not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from jaxdl.data.mnist import FILES, SAMPLE_FILE, mnist_with_checks

OUTPUT = Path(__file__).resolve().parent.parent / "jaxdl" / "data" / SAMPLE_FILE
MAX_BYTES = 2 * 1024 * 1024


def draw(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """``per_class`` indices of each label 0-9, without replacement, sorted."""
    chosen = [
        rng.choice(np.flatnonzero(labels == digit), size=per_class, replace=False)
        for digit in range(10)
    ]
    return np.sort(np.concatenate(chosen))


def make_sample(source: str, *, seed: int, train_per_class: int, test_per_class: int) -> dict:
    rng = np.random.default_rng(seed)
    arrays, source_files = {}, {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        data, checks = mnist_with_checks(split, source)
        for kind, check in zip(("images", "labels"), checks, strict=True):
            if check.status != "verified":
                raise SystemExit(f"{check.location}: {check.status}; refusing to sample it")
            source_files[FILES[(split, kind)]] = check.sha256
        index = draw(data.labels, per_class, rng)
        arrays[f"{split}_images"] = np.ascontiguousarray(data.images[index])
        arrays[f"{split}_labels"] = np.ascontiguousarray(data.labels[index])
        arrays[f"{split}_indices"] = index.astype(np.uint16)
    metadata = {
        "dataset": "MNIST",
        "description": (
            f"{10 * train_per_class} training digits ({train_per_class} per class) drawn from "
            f"the 60000 MNIST training images and {10 * test_per_class} test digits "
            f"({test_per_class} per class) drawn from the 10000 MNIST test images; "
            "*_indices are the positions in the official files"
        ),
        "authors": "Yann LeCun, Corinna Cortes, Christopher J.C. Burges",
        "licence": "CC BY-SA 3.0",
        "licence_url": "https://creativecommons.org/licenses/by-sa/3.0/",
        "source_files_sha256": source_files,
        "seed": seed,
        "made_by": "scripts/make_mnist_sample.py",
        "sha256": {
            key: hashlib.sha256(array.tobytes()).hexdigest()
            for key, array in arrays.items()
            if not key.endswith("_indices")
        },
    }
    arrays["metadata"] = np.array(json.dumps(metadata, indent=1))
    return arrays


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="download", help="'download' or a directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-per-class", type=int, default=800)
    parser.add_argument("--test-per-class", type=int, default=200)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    arrays = make_sample(
        args.source,
        seed=args.seed,
        train_per_class=args.train_per_class,
        test_per_class=args.test_per_class,
    )
    np.savez_compressed(args.output, **arrays)
    size = args.output.stat().st_size
    print(f"wrote {args.output} ({size} bytes)")
    if size > MAX_BYTES:
        raise SystemExit(f"{args.output} is {size} bytes, over the {MAX_BYTES}-byte budget")


if __name__ == "__main__":
    main()
