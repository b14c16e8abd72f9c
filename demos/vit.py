"""Vision Transformer (2020) demo: a small ViT learns MNIST digits read as 16 patches.

    python demos/vit.py [--epochs N] [--data DIR] [--paper]

Prints the test accuracy, how alike the learned position embeddings of patches in one row or
column are, and with ``--paper`` the data-size comparison with the deep-CNN chapter's net (the
paper's Figure 3/4 argument: with little data, the convnet's prior wins).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Run the chapter's experiment and print its numbers."""
    from jaxdl.milestones import vit

    defaults = vit.Config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--data", default="sample", help="sample or a directory of IDX files")
    parser.add_argument("--paper", action="store_true", help="add the data-size comparison")
    args = parser.parse_args(argv)
    report = vit.run(vit.Config(epochs=args.epochs, data=args.data, paper=args.paper))
    r = report.result
    print(f"ViT: {r['patches']} patches, {r['parameters']:,} parameters; {r['data']}")
    print(f"{r['steps']} steps in {r['train_seconds']:.1f} s; final training loss "
          f"{r['final_training_loss']:.3f}")  # fmt: skip
    print(f"test accuracy {r['test_accuracy']:.2%}")
    print(
        "position embeddings, mean cosine similarity: same row or column "
        f"{r['position_similarity_same_row_or_column']:.3f}, elsewhere "
        f"{r['position_similarity_elsewhere']:.3f}"
    )
    if args.paper:
        print(f"\ndata size vs test accuracy ({r['data_size_steps']} steps each):")
        print(f"{'digits':>7}  {'ViT':>7}  {'deep CNN':>8}")
        for row in r["data_size_comparison"]:
            print(f"{row['size']:>7}  {row['vit_test_accuracy']:>7.2%}  "
                  f"{row['cnn_test_accuracy']:>8.2%}")  # fmt: skip
    print(f"(the paper: {r['paper_imagenet_top1_percent']}% ImageNet top-1 for ViT-L/16 "
          "pre-trained on 300M images; not comparable)")  # fmt: skip


if __name__ == "__main__":
    main()
