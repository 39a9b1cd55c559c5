"""The GAN training task: one discriminator step (or several) then one generator step."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.config import RunConfig
from genforge.core.registry import GAN_LOSSES, GAN_PENALTIES, MODELS, TASKS
from genforge.core.runtime import make_generator
from genforge.data.imageset import DataInfo, ImageSet
from genforge.models.ema import make_ema, update_ema
from genforge.sampling.direct import latents
from genforge.training.diffaugment import diff_augment
from genforge.training.task import image_batch, make_optimizer


def use_diffaugment(cfg: RunConfig, n_train: int) -> bool:
    mode = cfg.model.diffaugment
    return mode == "on" or (mode == "auto" and n_train <= cfg.model.diffaugment_max_items)


@TASKS.register("gan")
class GANTask:
    def __init__(self, cfg: RunConfig, info: DataInfo, device: torch.device) -> None:
        spec = MODELS.get(cfg.model.name)
        nets = spec.build(cfg.model, info)
        self.conditional = spec.conditional
        self.G: nn.Module = nets["generator"].to(device)
        self.D: nn.Module = nets["discriminator"].to(device)
        self.ema = make_ema(self.G)
        self.loss = GAN_LOSSES.get(cfg.model.loss)()
        self.penalty = GAN_PENALTIES.get(cfg.model.penalty)
        self.penalty_weight = cfg.model.penalty_weight
        self.aux_weight, self.aux_weight_g = cfg.model.aux_weight, cfg.model.aux_weight_g
        self.mode_seeking_weight = cfg.model.mode_seeking_weight
        self.d_steps, self.ema_decay = cfg.model.d_steps, cfg.model.ema_decay
        self.policy = cfg.model.diffaugment_policy if use_diffaugment(cfg, info.n_train) else ()
        self.opt_g = make_optimizer(self.G.parameters(), cfg.optim.network("generator"))
        self.opt_d = make_optimizer(self.D.parameters(), cfg.optim.network("discriminator"))
        self.rng = make_generator(cfg.train.seed + 1, device)  # noise, DiffAugment, penalty ε

    def networks(self) -> dict[str, nn.Module]:
        return {"generator": self.G, "discriminator": self.D, "ema": self.ema}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def generators(self) -> dict[str, torch.Generator]:
        return {"train": self.rng}

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.policy, self.rng) if self.policy else x

    def _fake(self, n: int, y: torch.Tensor | None) -> torch.Tensor:
        z = latents(n, self.G.z_dim, self.rng).to(y.device if y is not None else self.G.fc.weight.device)
        return self.G(z, y)

    def d_step(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fake = self._fake(x.shape[0], y)
        real_scores, real_logits = self.D.scores_and_logits(self._augment(x), y)
        fake_scores = self.D(self._augment(fake), y)
        loss = self.loss.d_loss(real_scores, fake_scores)
        pen = self.penalty(self.D, x, fake, y, self.penalty_weight, self.rng)
        aux = self.aux_weight * self._aux_loss(real_logits, y)
        self.opt_d.zero_grad(set_to_none=True)
        (loss + pen + aux).backward()
        self.opt_d.step()
        out = {"loss_d": loss.detach(), "penalty": pen.detach(), "d_real": real_scores.detach().mean(),
               "d_fake": fake_scores.detach().mean()}
        if real_logits is not None:
            out["aux_d"] = aux.detach()
        return out

    def _aux_loss(self, logits: torch.Tensor | None, y: torch.Tensor | None) -> torch.Tensor:
        """AC-GAN class loss (Odena et al. 2017): D learns the class of real images, G makes fakes classifiable."""
        if logits is None or y is None:
            return torch.zeros((), device=self.G.fc.weight.device)
        return F.cross_entropy(logits, y)

    def _mode_seeking(self, n: int, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Fakes whose two halves share labels, and the MSGAN term (Mao et al. 2019, eq. 3):
        L_ms = 1 / (mean|G(z₁,y) − G(z₂,y)| / mean|z₁ − z₂| + ε), which G minimises to spread its samples."""
        h = n // 2
        y2 = None if y is None else torch.cat([y[:h], y[:h], y[2 * h :]])
        z = latents(n, self.G.z_dim, self.rng).to(self.G.fc.weight.device)
        fake = self.G(z, y2)
        ratio = (fake[:h] - fake[h : 2 * h]).abs().mean() / (z[:h] - z[h : 2 * h]).abs().mean()
        return fake, y2, self.mode_seeking_weight / (ratio + 1e-5)

    def g_step(self, n: int, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        self.D.requires_grad_(False)
        try:
            if self.mode_seeking_weight > 0:
                fake, y, ms = self._mode_seeking(n, y)
            else:
                fake, ms = self._fake(n, y), torch.zeros((), device=self.G.fc.weight.device)
            scores, logits = self.D.scores_and_logits(self._augment(fake), y)
            loss = self.loss.g_loss(scores)
            aux = self.aux_weight_g * self._aux_loss(logits, y)
            self.opt_g.zero_grad(set_to_none=True)
            (loss + aux + ms).backward()
            self.opt_g.step()
        finally:
            self.D.requires_grad_(True)
        out = {"loss_g": loss.detach(), **({"aux_g": aux.detach()} if logits is not None else {})}
        if self.mode_seeking_weight > 0:
            out["mode_seeking"] = ms.detach()
        return out

    def batch(self, data: ImageSet, idx: torch.Tensor) -> dict[str, torch.Tensor | None]:
        return image_batch(data, idx, self.G.fc.weight.device)

    def train_step(self, batch: dict[str, torch.Tensor | None], step: int) -> dict[str, torch.Tensor]:
        x, y = batch["x"], (batch["y"] if self.conditional else None)
        for _ in range(self.d_steps):
            out = self.d_step(x, y)
        out.update(self.g_step(x.shape[0], y))
        update_ema(self.ema, self.G, self.ema_decay, step)
        return out
