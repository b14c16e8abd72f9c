"""Recurrent networks demo: Elman's temporal XOR, the adding problem, and (optionally) sentiment.

    python demos/recurrent.py [--csv reviews.csv]

The CSV needs ``text`` and ``label`` columns (labels 0/1 or negative/positive); IMDB, SST-2
or Sentiment140 converted to that format fit (see :mod:`jaxdl.text`). No data set is shipped.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", help="labelled CSV file (text,label) for sentiment")
    args = parser.parse_args(argv)
    from jaxdl.milestones import elman_rnn, lstm

    report = elman_rnn.run(elman_rnn.Config())
    print("Elman (1990), temporal XOR: mean |error| by position of the predicted bit")
    errors = np.asarray(report.plot_data["errors"][:9])
    print("  " + " ".join(f"{e:.2f}" for e in errors))
    print(f"  XOR bits: {report.result['error_on_xor_bits']:.3f}")
    print(f"  random bits: {report.result['error_on_random_bits']:.3f}")

    report = lstm.run(lstm.Config())
    r = report.result
    print(f"Adding problem, T={report.config.length}: test MSE")
    print(f"  LSTM (1997): {r['lstm_test_mse']:.4f}")
    print(f"  Elman RNN:   {r['elman_test_mse']:.4f}")
    print(f"  always 1.0:  {r['baseline_mse']:.4f}")
    if args.csv:
        s = lstm.run(lstm.Config(csv=args.csv)).result["sentiment"]
        print(
            f"Sentiment: {s['examples']} texts, vocabulary {s['vocabulary']}, "
            f"train accuracy {s['train_accuracy']:.3f}, test accuracy {s['test_accuracy']:.3f}"
        )


if __name__ == "__main__":
    main()
