"""The Python API; the CLI only parses arguments and calls these functions."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from genforge import __version__
from genforge.core import checkpoint as ck
from genforge.core.config import MAX_SAMPLES, MAX_SEED, RunConfig, build_config, resume_changes
from genforge.core.errors import CheckpointError, ConfigError, GenforgeError, check_count
from genforge.core.registry import MODELS, TASKS
from genforge.core.runs import Run, check_migratable, create_run, ensure_new_run, open_run, writer_lock
from genforge.core.runtime import resolve_device
from genforge.data.imageset import DataInfo
from genforge.data.export import save_samples
from genforge.data.prepare import prepare
from genforge.data.transforms import to_uint8
from genforge.models.spec import ModelSpec
from genforge.sampling.request import SampleRequest


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
    """Train a new run (or continue one with ``resume``); returns a TrainResult.

    Everything is validated (config, data, networks, optimizers, selection metric) before anything is
    written; the run's config.json changes only after the checkpoint it describes has been restored.
    """
    if resume is not None:
        for flag, value in (("--out", out), ("--init-from", init_from)):
            if value is not None:
                raise ConfigError(f"{flag} cannot be used with --resume (the run keeps its own folder and lineage)")
        run = open_run(resume)
        check_migratable(run)  # an older run's config.json is rewritten in this format only if every checkpoint verifies
        old = run.config()
        cfg = resolve_config(data, model, steps, time_budget, overrides, base=old.model_dump(mode="json"))
        changed = resume_changes(old, cfg)
        if changed:
            log(f"--resume changes {', '.join(changed)}")
        trainer = _trainer(run, cfg, log)
        with writer_lock(run.path):
            return trainer.fit(resume=True, replan=time_budget is not None or "train.time_budget" in changed)
    # absolute, so that the lineage still resolves from another working directory
    extra = [f"train.init_from={json.dumps(str(Path(init_from).resolve()))}"] if init_from else []
    cfg = resolve_config(data, model, steps, time_budget, list(overrides or []) + extra)
    out = Path(out or Path("runs") / f"{cfg.model.name}-{Path(cfg.data.name).name}")
    ensure_new_run(out)  # fail before the data is loaded
    trainer = _trainer(Run(out), cfg, log)  # bad data, sizes or optimizer settings fail here: no folder yet
    if cfg.train.init_from:
        trainer.init_from(open_run(cfg.train.init_from))  # weights that do not fit fail here too
    with writer_lock(out):
        create_run(out, cfg)
        return trainer.fit()


def _trainer(run: Run, cfg: RunConfig, log):
    """Prepare the data and build the Trainer (networks, optimizers, objectives): every check that needs them."""
    from genforge.training.trainer import Trainer

    device = resolve_device(cfg.train.device)
    prepared = prepare(cfg.data, warn=log)
    spec = MODELS.get(cfg.model.name)
    if spec.conditional is True and prepared.info.num_classes < 2:
        others = ", ".join(n for n in MODELS.names() if MODELS.get(n).conditional is not True)
        raise ConfigError(f"--model {cfg.model.name} needs class labels but {cfg.data.name} has none (an image folder "
                          f"with one subfolder per class, or .npz with 'y'); for unlabelled data use one of: {others}")
    try:
        return Trainer(run, cfg, prepared, device, log=log)
    except ValueError as err:  # e.g. torch.optim rejects a setting the schema let through
        raise ConfigError(f"invalid training settings: {str(err).splitlines()[0]}") from None


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
    spec: ModelSpec  # the family's declaration (its sampler and request fields)
    request: SampleRequest = SampleRequest()  # the default sampling request (resolved: every field the family reads)

    def resolve(self, request: SampleRequest | None) -> SampleRequest:
        """``request`` with the family's defaults filled in; a clear error for a field or sampler it does not have."""
        return self.spec.resolve((request or SampleRequest()).merged(self.request.given()), self.config.model.name,
                                 self.conditional)

    def sample(self, n: int, label: int | list[int] | None = None, seed: int = 0, request: SampleRequest | None = None,
               indices: list[int] | None = None) -> torch.Tensor:
        """n images as uint8 (n, C, H, W). ``label``: one class for all, or one per sample.

        Sample i of seed S has its own noise (``sampling.noise``): ``indices`` regenerates chosen samples
        of the request alone (default 0..n-1), equal to the same samples of a larger batch.
        """
        check_count("--n", n, 1, MAX_SAMPLES)
        check_count("--seed", seed, 0, MAX_SEED)
        if indices is not None:
            if len(indices) != n:
                raise GenforgeError(f"got {len(indices)} sample indices for {n} samples")
            for i in indices:
                check_count("a sample index", i, 0, MAX_SEED)
        labels = self.labels_for(n, label)
        images = self.spec.generate(self.net, self.resolve(request), indices if indices is not None else n, labels, seed)
        return to_uint8(images)

    def labels_for(self, n: int, label) -> torch.Tensor | None:
        """The class of each of n samples (None when unconditional); checks the range."""
        if not self.conditional:
            if label is not None:
                raise GenforgeError(f"{self.run.path} is an unconditional {self.config.model.name}; drop --label")
            return None
        k = self.info.num_classes
        if label is None:
            return torch.arange(n) % k
        values = [label] * n if isinstance(label, int) else list(label)
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < k:
                raise GenforgeError(f"label {v!r} is outside the class range 0..{k - 1} of this run ({', '.join(self.info.classes[:10])})")
        if len(values) != n:
            raise GenforgeError(f"got {len(values)} labels for {n} samples")
        return torch.tensor(values, dtype=torch.long)

    def describe(self) -> dict:
        """Which run, checkpoint and weights a result came from (the `run` block of eval and augment JSON)."""
        return {"run": str(self.run.path), "checkpoint": self.checkpoint.step, "weights_sha256": self.weights_sha256,
                "model": self.config.model.name, "data": self.config.data.name, "sampling": self.request.to_json(),
                "noise": "per-sample", "genforge_version": __version__}

    def provenance(self, seed: int, label, request: SampleRequest | None = None) -> dict[str, str]:
        return {"genforge:run": str(self.run.path), "genforge:checkpoint": str(self.checkpoint.step),
                "genforge:weights-sha256": self.weights_sha256, "genforge:seed": str(seed),
                "genforge:label": "cycled 0..k-1" if label is None and self.conditional else str(label),
                "genforge:sampling": json.dumps(self.resolve(request).to_json(), sort_keys=True),
                "genforge:noise": "per sample: sample i of seed S draws from a generator seeded by SHA-256(S, i)",
                "genforge:version": __version__}


def load(run: str | Path, checkpoint: str = "best", use_ema: bool = True, device: str = "cpu", log=print,
         request: SampleRequest | None = None) -> LoadedGenerator:
    """Load a run's generator from a verified checkpoint ('best', 'latest' or a step).

    ``request`` sets the sampling defaults of the loaded generator (sampler, steps, guidance, ...), checked
    against the family before any checkpoint is read.

    A checkpoint that verifies but does not load (weights crafted to match their manifest, a state.json
    of the wrong shape) is skipped with a warning for 'best'/'latest', and refused when asked for by step.
    """
    r = open_run(run)
    cfg = r.config()
    spec = MODELS.get(cfg.model.name)
    spec.resolve(request, cfg.model.name)  # a bad request fails before any checkpoint is read
    candidates = r.candidates(checkpoint, warn=log)
    for i, ckpt in enumerate(candidates):
        try:
            return _load_from(r, cfg, spec, ckpt, use_ema, device, request)
        except CheckpointError as err:
            if i + 1 == len(candidates):
                raise
            log(f"warning: {err}; using checkpoint {candidates[i + 1].step} instead")
    raise AssertionError("unreachable: candidates is never empty")


def _load_from(r: Run, cfg: RunConfig, spec, ckpt: ck.Checkpoint, use_ema: bool, device: str,
               request: SampleRequest) -> LoadedGenerator:
    try:
        info = DataInfo.from_json(ckpt.state()["data_info"])
        net = spec.build(cfg.model, info)[spec.sample_net]
    except (KeyError, TypeError, ValueError, AttributeError, GenforgeError) as err:
        raise CheckpointError(f"{ckpt.path / ck.STATE} does not describe this run's data ({str(err)[:160] or type(err).__name__})") from None
    name = "ema" if use_ema and (ckpt.path / "ema.safetensors").exists() else spec.sample_net
    try:
        net.load_state_dict(ck.load_tensors(ckpt, name))
    except RuntimeError as err:
        raise CheckpointError(f"{ckpt.path / (name + '.safetensors')} does not fit the {cfg.model.name} described by "
                              f"config.json ({str(err).splitlines()[0][:160]})") from None
    if not all(torch.isfinite(t).all() for t in net.state_dict().values() if t.is_floating_point()):
        raise CheckpointError(f"{ckpt.path / (name + '.safetensors')} holds NaN or infinite weights")
    net = net.to(resolve_device(device)).eval()
    digest = ck.sha256_file(ckpt.path / f"{name}.safetensors")
    conditional = spec.conditional_for(info)
    return LoadedGenerator(r, cfg, info, ckpt, net, conditional, digest, spec, spec.resolve(request, cfg.model.name, conditional))


def evaluate_run(run: str | Path, settings=None, checkpoint: str = "best", log=print,
                 request: SampleRequest | None = None, sweep_steps: tuple[int, ...] | None = None,
                 sweep_n: int | None = None) -> dict:
    """`genforge eval`: metrics.json + report.html in RUN/eval/ for the chosen checkpoint."""
    from genforge.api_eval import latent_grid, load_critic, run_sweep, sweep_points_for
    from genforge.evaluation.evaluate import EvalSettings, evaluate
    from genforge.evaluation.report import write_report

    settings = settings or EvalSettings()
    gen = load(run, checkpoint, log=log, request=request)
    points = sweep_points_for(gen, sweep_steps) if sweep_steps is not None else None  # bad sweeps fail before any work
    data = prepare(gen.config.data, warn=log)
    if (data.info.channels, data.info.image_size) != (gen.info.channels, gen.info.image_size):
        raise GenforgeError(f"{gen.run.path} generates {gen.info.channels}x{gen.info.image_size}px images but its data now "
                            f"loads as {data.info.channels}x{data.info.image_size}px; the dataset changed")
    changed = data.info.content_hash != gen.info.content_hash
    if changed:
        log(f"warning: {gen.config.data.name} changed since {gen.run.path} was trained (content hash differs); "
            "the metrics compare against the data as it is now")
    elif data.info.prep_hash != gen.info.prep_hash:
        log(f"warning: {gen.config.data.name} is prepared differently than when {gen.run.path} was trained (a newer "
            "image decoder or preprocessing); the metrics compare against the data as it loads now")

    def sample_fn(labels, n, seed):
        return gen.sample(n, None if labels is None else labels.tolist(), seed)

    run_prov = {**gen.describe(), "dataset_changed_since_training": changed}
    result = evaluate(sample_fn, data, gen.conditional, settings, run_prov, log=log, critic=load_critic(gen, log))
    out = gen.run.path / "eval"
    out.mkdir(exist_ok=True)
    if points is not None:
        result["sampler_sweep"] = run_sweep(gen, data, settings, points, sweep_n, log)
    public = {k: v for k, v in result.items() if k != "_arrays"}
    ck.atomic_write_text(out / "metrics.json", json.dumps(public, indent=2) + "\n")
    write_report(result, out / "report.html", f"genforge eval: {gen.run.name} (checkpoint {gen.checkpoint.step})",
                 list(data.info.classes), data.train.x, gen.run.read_metrics(), sweep=result.get("sampler_sweep"),
                 interpolation=latent_grid(gen, seed=settings.seed))
    return public


def reconstruct(run: str | Path, n: int = 32, out: str | Path = "reconstructions.png", split: str = "test",
                checkpoint: str = "best", log=print) -> Path:
    """`genforge reconstruct`: a PNG with each input image above its reconstruction (rows alternate)."""
    from genforge.api_eval import reconstruct_run
    from genforge.core.images import make_grid, save_png

    if split not in ("val", "test"):
        raise GenforgeError(f"--split must be val or test, got {split!r}")
    gen = load(run, checkpoint, log=log)
    if gen.spec.reconstruct is None:  # before the data is prepared
        reconstruct_run(gen, None, n, split)
    data = prepare(gen.config.data, warn=log)
    inputs, _, recon = reconstruct_run(gen, data, n, split)
    cols = min(10, len(inputs))
    rows = [part for i in range(0, len(inputs), cols) for part in (inputs[i : i + cols], recon[i : i + cols])]
    width = max(len(r) for r in rows)
    padded = torch.cat([torch.cat([r, r.new_zeros((width - len(r), *r.shape[1:]))]) for r in rows])
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise GenforgeError(f"--out must end in .png, got '{out.name}'")
    try:
        save_png(make_grid(padded, width), out, {**gen.provenance(0, None), "genforge:rows": f"{split} inputs, then their reconstructions"}, scale=2)
    except OSError as err:
        raise GenforgeError(f"cannot write {out} ({err.strerror or err}); choose another --out") from None
    return out


from genforge.api_augment import augment_run  # noqa: E402  (its own module: it is long; re-exported here)

__all__ = ["train", "load", "resolve_config", "save_samples", "evaluate_run", "augment_run", "LoadedGenerator", "TASKS", "__version__"]
