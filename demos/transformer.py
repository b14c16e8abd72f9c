"""Transformer (2017) demo: a small GPT learns tiny Shakespeare, then writes some.

    python demos/transformer.py [--paper] [--prompt TEXT] [--length N]

Prints the train and validation loss estimates as nanoGPT's ``train.py`` logs them, then a
sample. ``--paper`` runs nanoGPT's CPU configuration (a few minutes) and prints its published
validation loss, 1.88, beside ours.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None, *, config=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", action="store_true", help="nanoGPT's CPU run (minutes)")
    parser.add_argument("--prompt", default="ROMEO:", help="text to continue")
    parser.add_argument("--length", type=int, default=300, help="characters to generate")
    args = parser.parse_args(argv)
    from jaxdl.milestones import transformer as tr

    base = config or tr.Config()
    config = dataclasses.replace(
        base, paper=args.paper, sample=True, prompt=args.prompt, sample_length=args.length
    )
    report = tr.run(config)
    r, evals = report.result, report.plot_data["evals"]
    s = config.settings()
    print(
        f"GPT: {s['layers']} layers, {s['heads']} heads, width {s['width']}, context "
        f"{s['context']}; {r['parameters'] / 1e6:.2f}M parameters; {r['vocabulary']} characters"
    )
    for step, train, val in zip(evals["step"], evals["train"], evals["val"], strict=True):
        print(f"step {step}: train loss {train:.4f}, val loss {val:.4f}")
    print(f"validation loss {r['val_loss']:.4f} (20 batches)", end="")
    if config.paper:
        print(f", {r['val_loss_200']:.4f} (200 batches); nanoGPT: {tr.NANOGPT_VAL_LOSS}")
    else:
        print(f"; a uniform guess scores {r['uniform_loss']:.4f}")
    print(f"trained in {r['train_seconds']:.1f} s, {r['tokens_per_second']:.0f} tokens/s")
    print("---")
    print(r["sample"])


if __name__ == "__main__":
    main()
