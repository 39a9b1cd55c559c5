"""The diffusion training task: one denoising step per batch (Ho et al. 2020, Alg. 1), with label dropout
for classifier-free guidance (Ho & Salimans 2022, Alg. 1) and an EMA copy that samples."""
from __future__ import annotations

import torch
from torch import nn

from genforge.core.config import RunConfig
from genforge.core.registry import MODELS, TASKS
from genforge.core.runtime import make_generator
from genforge.data.imageset import DataInfo, ImageSet
from genforge.models.diffusion_family import Denoiser
from genforge.models.ema import make_ema, update_ema
from genforge.training.objectives.denoising import denoising_loss, sample_timesteps
from genforge.training.task import image_batch, make_optimizer


@TASKS.register("diffusion")
class DiffusionTask:
    def __init__(self, cfg: RunConfig, info: DataInfo, device: torch.device) -> None:
        spec = MODELS.get(cfg.model.name)
        self.conditional = spec.conditional_for(info)
        self.net: Denoiser = spec.build(cfg.model, info)["denoiser"].to(device)
        self.ema = make_ema(self.net)
        self.opt = make_optimizer(self.net.parameters(), cfg.optim.network("denoiser"))
        self.label_dropout, self.ema_decay = cfg.model.label_dropout, cfg.model.ema_decay
        self.device = device
        self.rng = make_generator(cfg.train.seed + 1, device)  # t, ε and the label dropout

    def networks(self) -> dict[str, nn.Module]:
        return {"denoiser": self.net, "ema": self.ema}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"denoiser": self.opt}

    def generators(self) -> dict[str, torch.Generator]:
        return {"train": self.rng}

    def batch(self, data: ImageSet, idx: torch.Tensor) -> dict[str, torch.Tensor | None]:
        return image_batch(data, idx, self.device)

    def _drop_labels(self, y: torch.Tensor) -> torch.Tensor:
        """Each label becomes the null class with probability label_dropout: one net learns ε(x,y) and ε(x,∅)."""
        drop = torch.rand(y.shape, generator=self.rng, device=self.rng.device).to(y.device) < self.label_dropout
        return torch.where(drop, torch.full_like(y, self.net.null_class), y)

    def train_step(self, batch: dict[str, torch.Tensor | None], step: int) -> dict[str, torch.Tensor]:
        x = batch["x"]                                                             # (B, C, H, W) in [-1, 1]
        y = self._drop_labels(batch["y"]) if (self.conditional and batch["y"] is not None) else None
        t = sample_timesteps(len(x), self.net.schedule.T, self.rng).to(self.device)
        eps = torch.randn(x.shape, generator=self.rng, device=self.rng.device).to(self.device)
        loss = denoising_loss(lambda x_t, t_: self.net(x_t, t_, y), self.net.schedule, x, t, eps, self.net.prediction)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        update_ema(self.ema, self.net, self.ema_decay, step)
        return {"loss": loss.detach()}
