"""The Python API; the CLI only parses arguments and calls these functions."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genforge import __version__
from genforge.core import checkpoint as ck
from genforge.core.config import RunConfig, build_config, config_to_json
from genforge.core.errors import ConfigError, GenforgeError
from genforge.core.registry import MODELS, TASKS
from genforge.core.runs import Run, create_run, ensure_new_run, open_run
from genforge.core.runtime import resolve_device
from genforge.data.imageset import DataInfo
from genforge.data.prepare import prepare
from genforge.data.transforms import to_uint8


def resolve_config(data: str | None = None, model: str | None = None, steps: int | None = None,
                   time_budget: str | None = None, overrides: list[str] | None = None,
                   base: dict | None = None) -> RunConfig:
    """Flags become overrides of the config; explicit --set wins over the shortcut flags."""
    flags = {"data.name": data, "model.name": model, "train.steps": steps, "train.time_budget": time_budget}
    encoded = [f"{key}={json.dumps(value if isinstance(value, int) else str(value))}"
               for key, value in flags.items() if value is not None]
    cfg = build_config(base, encoded + list(overrides or []))
    MODELS.get(cfg.model.name)  # unknown names fail here, before any work
    return cfg


def train(data: str | None = None, model: str | None = None, out: str | Path | None = None,
          steps: int | None = None, time_budget: str | None = None, overrides: list[str] | None = None,
          resume: str | Path | None = None, init_from: str | None = None, log=print):
    """Train a new run (or continue one with ``resume``); returns a TrainResult."""
    from genforge.training.trainer import Trainer

    if resume is not None:
        run = open_run(resume)
        ignored = [flag for flag, v in (("--data", data), ("--model", model), ("--out", out), ("--time-budget", time_budget),
                                        ("--init-from", init_from)) if v is not None]
        if ignored:
            log(f"warning: {', '.join(ignored)} ignored with --resume (the run keeps its own config; use --steps to extend it)")
        cfg = resolve_config(steps=steps, overrides=overrides, base=run.config().model_dump(mode="json"))
    else:
        extra = [f'train.init_from="{init_from}"'] if init_from else []
        cfg = resolve_config(data, model, steps, time_budget, list(overrides or []) + extra)
        out = Path(out or Path("runs") / f"{cfg.model.name}-{Path(cfg.data.name).name}")
        ensure_new_run(out)  # fail before the data is loaded
    device = resolve_device(cfg.train.device)
    prepared = prepare(cfg.data, warn=log)  # bad data fails here, before a run directory exists
    spec = MODELS.get(cfg.model.name)
    if spec.conditional and prepared.info.num_classes < 2:
        raise ConfigError(f"--model {cfg.model.name} needs class labels but {cfg.data.name} has none; use --model dcgan")
    if resume is not None:
        ck.atomic_write_text(run.path / "config.json", config_to_json(cfg))
    else:
        run = create_run(out, cfg)
    trainer = Trainer(run, cfg, prepared, device, log=log)
    return trainer.fit(resume=resume is not None)


@dataclass
class LoadedGenerator:
    """A trained generator ready to sample (the EMA weights by default)."""

    run: Run
    config: RunConfig
    info: DataInfo
    checkpoint: ck.Checkpoint
    net: torch.nn.Module
    conditional: bool
    weights_sha256: str

    def sample(self, n: int, label: int | list[int] | None = None, seed: int = 0) -> torch.Tensor:
        """n images as uint8 (n, C, H, W). ``label``: one class for all, or one per sample."""
        from genforge.sampling.gan import sample_gan

        if n < 1:
            raise GenforgeError(f"--n must be at least 1, got {n}")
        labels = self.labels_for(n, label)
        g = torch.Generator().manual_seed(seed)
        return to_uint8(sample_gan(self.net, n, labels, g).cpu())

    def labels_for(self, n: int, label) -> torch.Tensor | None:
        """The class of each of n samples (None when unconditional); checks the range."""
        if not self.conditional:
            if label is not None:
                raise GenforgeError(f"{self.run.path} is an unconditional {self.config.model.name}; drop --label")
            return None
        k = self.info.num_classes
        if label is None:
            return torch.arange(n) % k
        labels = torch.tensor([label] * n if isinstance(label, int) else list(label), dtype=torch.long)
        if len(labels) != n:
            raise GenforgeError(f"got {len(labels)} labels for {n} samples")
        bad = labels[(labels < 0) | (labels >= k)]
        if len(bad):
            raise GenforgeError(f"label {int(bad[0])} is outside the class range 0..{k - 1} of this run ({', '.join(self.info.classes[:10])})")
        return labels

    def provenance(self, seed: int, label) -> dict[str, str]:
        return {"genforge:run": str(self.run.path), "genforge:checkpoint": str(self.checkpoint.step),
                "genforge:weights-sha256": self.weights_sha256, "genforge:seed": str(seed),
                "genforge:label": "cycled 0..k-1" if label is None and self.conditional else str(label),
                "genforge:version": __version__}


def load(run: str | Path, checkpoint: str = "best", use_ema: bool = True, device: str = "cpu", log=print) -> LoadedGenerator:
    """Load a run's generator from a verified checkpoint ('best', 'latest' or a step)."""
    r = open_run(run)
    cfg = r.config()
    ckpt = r.select_checkpoint(checkpoint, warn=log)
    info = DataInfo.from_json(ckpt.state()["data_info"])
    spec = MODELS.get(cfg.model.name)
    net = spec.build(cfg.model, info)[spec.sample_net]
    name = "ema" if use_ema and (ckpt.path / "ema.safetensors").exists() else spec.sample_net
    net.load_state_dict(ck.load_tensors(ckpt, name))
    net = net.to(resolve_device(device)).eval()
    digest = ck.sha256_file(ckpt.path / f"{name}.safetensors")
    return LoadedGenerator(r, cfg, info, ckpt, net, spec.conditional, digest)


def save_samples(images: torch.Tensor, out: Path, text: dict[str, str], labels: torch.Tensor | None, nrow: int | None = None) -> Path:
    """PNG grid (with tEXt provenance) or .npz (x uint8 NHWC, y)."""
    from genforge.core.images import make_grid, save_png

    out = Path(out)
    if out.suffix.lower() == ".npz":
        out.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"x": images.permute(0, 2, 3, 1).numpy()}
        if labels is not None:
            arrays["y"] = labels.numpy()
        np.savez(out, **arrays)
        return out
    if out.suffix.lower() != ".png":
        raise GenforgeError(f"--out must end in .png or .npz, got '{out.name}'")
    nrow = nrow or max(int(np.ceil(np.sqrt(len(images)))), 1)
    save_png(make_grid(images, nrow), out, text, scale=2)
    return out


def evaluate_run(run: str | Path, settings=None, checkpoint: str = "best", log=print) -> dict:
    """`genforge eval`: metrics.json + report.html in RUN/eval/ for the chosen checkpoint."""
    from genforge.evaluation.evaluate import EvalSettings, evaluate
    from genforge.evaluation.report import write_report

    settings = settings or EvalSettings()
    gen = load(run, checkpoint, log=log)
    data = prepare(gen.config.data, warn=log)
    if (data.info.channels, data.info.image_size) != (gen.info.channels, gen.info.image_size):
        raise GenforgeError(f"{gen.run.path} generates {gen.info.channels}x{gen.info.image_size}px images but its data now "
                            f"loads as {data.info.channels}x{data.info.image_size}px; the dataset changed")

    def sample_fn(labels, n, seed):
        return gen.sample(n, None if labels is None else labels.tolist(), seed)

    run_prov = {"run": str(gen.run.path), "checkpoint": gen.checkpoint.step, "weights_sha256": gen.weights_sha256,
                "model": gen.config.model.name, "data": gen.config.data.name, "genforge_version": __version__}
    result = evaluate(sample_fn, data, gen.conditional, settings, run_prov, log=log)
    out = gen.run.path / "eval"
    out.mkdir(exist_ok=True)
    public = {k: v for k, v in result.items() if k != "_arrays"}
    ck.atomic_write_text(out / "metrics.json", json.dumps(public, indent=2) + "\n")
    write_report(result, out / "report.html", f"genforge eval: {gen.run.name} (checkpoint {gen.checkpoint.step})",
                 list(data.info.classes), data.train.x, gen.run.read_metrics())
    return public


__all__ = ["train", "load", "resolve_config", "save_samples", "LoadedGenerator", "TASKS", "__version__"]
