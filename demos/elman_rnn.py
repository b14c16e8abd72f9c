"""Elman (1990) demo: a recurrent net learns which bits of a stream are predictable.

    python demos/elman_rnn.py

Every third bit of the stream is the XOR of the two before it; the trained network's error dips
on exactly those bits and stays at chance on the others.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np


def main(argv: Sequence[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    from jaxdl.milestones import elman_rnn

    report = elman_rnn.run(elman_rnn.Config())
    print("Elman (1990), temporal XOR: mean |error| by position of the predicted bit")
    errors = np.asarray(report.plot_data["errors"][:9])
    print("  " + " ".join(f"{e:.2f}" for e in errors))
    print(f"  XOR bits: {report.result['error_on_xor_bits']:.3f}")
    print(f"  random bits: {report.result['error_on_random_bits']:.3f}")


if __name__ == "__main__":
    main()
