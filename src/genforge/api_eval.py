"""The parts of `genforge eval` that need a loaded run beyond sampling: the family's membership score for the
privacy audit, and the sampler sweep. ``gen`` is an ``api.LoadedGenerator``."""
from __future__ import annotations

import numpy as np
import torch

from genforge.core import checkpoint as ck
from genforge.core.config import MAX_SAMPLES
from genforge.core.errors import GenforgeError, check_count
from genforge.data.transforms import to_unit
from genforge.sampling.request import SampleRequest


def load_critic(gen, log=print):
    """The family's membership score for the white-box attack, as an evaluation Critic (None: the family has none).

    ``ModelSpec.membership`` scores with any of the checkpoint's networks (ELBO, minus a denoising loss);
    a family with only a ``critic`` network (a GAN's discriminator) is scored by that network's output.
    """
    from genforge.evaluation.evaluate import Critic

    spec = gen.spec
    if spec.membership is None and (spec.critic is None or not (gen.checkpoint.path / f"{spec.critic}.safetensors").is_file()):
        if spec.critic is not None:
            log(f"warning: checkpoint {gen.checkpoint.step} has no {spec.critic}; the critic membership attack is skipped")
        return None
    nets = _load_networks(gen, with_ema=True) if spec.membership is not None else _load_networks(gen, [spec.critic])
    conditional = gen.conditional

    def member_score(x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if spec.membership is not None:
            return spec.membership(nets, x, y, torch.Generator().manual_seed(0))
        return nets[spec.critic](x, y)

    @torch.no_grad()
    def score(x_uint8: torch.Tensor, y: torch.Tensor | None, batch: int = 500) -> np.ndarray:
        parts = [member_score(to_unit(x_uint8[i : i + batch]), y[i : i + batch] if conditional else None)
                 for i in range(0, len(x_uint8), batch)]
        return torch.cat(parts).double().numpy()

    # its weights are the model's own, not a shared measuring instrument: not "sha256", which compare
    # uses to decide whether two runs were measured alike
    used = sorted(nets)
    return Critic(score, {"critic": spec.critic if spec.membership is None else "membership score of " + "+".join(used),
                          "critic_sha256": ck.sha256_file(gen.checkpoint.path / f"{used[0]}.safetensors"),
                          "checkpoint": gen.checkpoint.step})


def _load_networks(gen, names: list[str] | None = None, with_ema: bool = False) -> dict[str, torch.nn.Module]:
    """Networks of the generator's checkpoint by name (default: every one the family builds that the checkpoint
    holds, plus its "ema" copy with ``with_ema``), in eval mode; a clear error when one does not fit."""
    import copy

    built = gen.spec.build(gen.config.model, gen.info)
    if with_ema:
        built["ema"] = copy.deepcopy(built[gen.spec.sample_net])
    if names is None:
        names = [n for n in built if (gen.checkpoint.path / f"{n}.safetensors").is_file()]
    nets = {}
    for name in names:
        net = built[name]
        try:
            net.load_state_dict(ck.load_tensors(gen.checkpoint, name))
        except (RuntimeError, OSError, ValueError) as err:
            raise GenforgeError(f"{gen.checkpoint.path / (name + '.safetensors')} does not fit the {gen.config.model.name} "
                                f"{name} of this run ({str(err).splitlines()[0]})") from None
        nets[name] = net.eval()
    return nets


def sweep_points_for(gen, steps: tuple[int, ...]) -> list[dict]:
    from genforge.evaluation.sweep import DEFAULT_STEPS, sweep_points

    sampling = gen.spec.sampling
    if "sample_steps" not in sampling.defaults or sampling.max_steps is None:
        raise GenforgeError(f"--sampler-sweep needs a family whose samplers take steps (diffusion); "
                            f"{gen.config.model.name} samples in one pass")
    return sweep_points(sampling.samplers, steps or DEFAULT_STEPS, sampling.max_steps(gen.net))


def run_sweep(gen, data, settings, points: list[dict], n: int | None, log) -> list[dict]:
    """Each (sampler, steps) of the sweep on the same reference and noise: KID, CI, N, images/s."""
    from genforge.evaluation.evaluate import labels_like, reference_set
    from genforge.evaluation.extractors import domain_extractor
    from genforge.evaluation.sweep import DEFAULT_N, sampler_sweep

    n = n or DEFAULT_N
    check_count("--sweep-n", n, 2, MAX_SAMPLES)
    reference = reference_set(data, settings)
    labels = labels_like(reference, n, gen.conditional)
    log(f"sampler sweep: {len(points)} points x {n} samples ...")

    def sample(point, lab, count, seed):
        return gen.sample(count, None if lab is None else lab.tolist(), seed, request=SampleRequest(**point))

    return sampler_sweep(sample, points, domain_extractor(data, log), reference.x, labels, n, settings.seed,
                         min(settings.resamples, 50), log)


def reconstruct_run(gen, data, n: int, split: str = "test") -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """(inputs, their labels, reconstructions) as uint8 for n images spread over ``split`` (families with an encoder)."""
    from genforge.data.transforms import to_uint8

    spec = gen.spec
    if spec.reconstruct is None:
        raise GenforgeError(f"{gen.config.model.name} has no encoder, so it cannot reconstruct images; "
                            "`genforge reconstruct` is for --model vae|cvae")
    check_count("--n", n, 1, MAX_SAMPLES)
    images = getattr(data, split)
    if len(images) == 0:
        raise GenforgeError(f"the {split} split of {gen.config.data.name} is empty; choose --split val or test")
    # evenly spaced over the split: splits can be stored class by class, and the first n would all be one class
    part = images.subset(torch.linspace(0, len(images) - 1, min(n, len(images))).round().long())
    nets = _load_networks(gen)
    labels = part.y if gen.conditional else None
    with torch.no_grad():
        recon = torch.cat([spec.reconstruct(nets, to_unit(part.x[i : i + 256]), None if labels is None else labels[i : i + 256])
                           for i in range(0, len(part), 256)])
    return part.x, part.y, to_uint8(recon)


def latent_grid(gen, rows: int = 8, steps: int = 10, seed: int = 0) -> torch.Tensor | None:
    """uint8 (rows·steps, C, H, W) latent interpolations for families sampled directly from a latent (GAN, VAE);
    None for the others (a diffusion model's "latent" is its starting noise: no meaningful path)."""
    from genforge.data.transforms import to_uint8
    from genforge.sampling.direct import interpolation_grid

    if "direct" not in gen.spec.sampling.samplers:
        return None
    labels = torch.arange(rows) % gen.info.num_classes if gen.conditional else None
    return to_uint8(interpolation_grid(gen.net, rows, steps, labels, seed).cpu())

