"""LSTM (1997) demo: the adding problem, and (optionally) sentiment from a CSV file.

    python demos/lstm.py [--csv reviews.csv]

The CSV needs ``text`` and ``label`` columns (labels 0/1 or negative/positive); IMDB, SST-2
or Sentiment140 converted to that format fit (see :mod:`jaxdl.data.text`). No data set is shipped.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", help="labelled CSV file (text,label) for sentiment")
    args = parser.parse_args(argv)
    from jaxdl.milestones import lstm

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
