"""What every `genforge` subcommand shares: the epilog, the log line, the sampling flags and their request."""
from __future__ import annotations

import argparse
import sys

EPILOG = "Docs: docs/cli.md (every command), docs/run-format.md (what a run directory holds)."


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _request(a: argparse.Namespace):
    """The sampling request of the flags given (None fields: the family's defaults)."""
    from genforge.sampling.request import SampleRequest

    return SampleRequest(sampler=a.sampler, sample_steps=a.sample_steps, guidance=a.guidance, eta=a.eta,
                         truncation=a.truncation,
                         guidance_interval=tuple(a.guidance_interval) if a.guidance_interval else None)


def _sampling_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sampling (each family reads its own; docs/families.md)")
    g.add_argument("--sampler", help="diffusion: dpmpp-2m (default), dpmpp-2m-sde, ddim, ddpm; GAN and VAE: direct")
    g.add_argument("--sample-steps", type=int, metavar="N", help="diffusion: denoising steps (1 to the schedule length)")
    g.add_argument("--guidance", type=float, metavar="W", help="conditional diffusion: classifier-free guidance scale (1 = none)")
    g.add_argument("--guidance-interval", type=float, nargs=2, metavar=("LO", "HI"),
                   help="guide only where t/T lies in [LO, HI] (Kynkäänniemi et al. 2024)")
    g.add_argument("--eta", type=float, help="DDIM: 0 deterministic (default) to 1 (ancestral-like)")
    g.add_argument("--truncation", type=float, metavar="T", help="GANs: redraw latent entries with |z| > T")
