"""Kingma & Welling's variational autoencoder on binarised MNIST: the bound and the manifold.

Trains one VAE per latent size (the reparameterisation and the KL term with backward passes
by hand) and prints the evidence lower bound on the training and test digits as training goes
(Figure 2), and how many latent units the widest model uses.

    python demos/vae.py                      # the shipped sample, latent sizes 2 and 10
    python demos/vae.py --paper --data DIR   # 500 hidden units, latent sizes 2 to 20
"""

from __future__ import annotations

import argparse

import jax

from jaxdl.milestones import vae


def main(argv: list[str] | None = None) -> None:
    """Run the chapter's experiment and print Figure 2 as a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=vae.PASSES)
    parser.add_argument("--hidden", type=int, default=vae.HIDDEN)
    parser.add_argument("--data", default="sample", help="sample or a directory of IDX files")
    parser.add_argument("--paper", action="store_true", help="the paper's sizes, longer")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    config = vae.Config(passes=args.passes, hidden=args.hidden, data=args.data, paper=args.paper)
    report = vae.run(config)
    print("ELBO per digit in nats (Figure 2): train / test")
    for c in report.plot_data["curves"]:
        print(f"  {c.latent:>3}-d latent:")
        for seen, tr, te in zip(c.examples, c.train_bound, c.test_bound, strict=True):
            print(f"    {seen:>9} digits seen  {tr:8.2f} / {te:8.2f}")
    units = report.result["active_units"]
    print(f"\nactive latent units of the {units['latent']}-d model: {units['active']}")


if __name__ == "__main__":
    main()
