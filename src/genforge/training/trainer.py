"""The Trainer shared by every family: loop, evaluation hook, checkpoints, exact resume.

The loop calls named steps: ``train_step`` (the family's task), ``maybe_log``, ``maybe_eval``,
``maybe_checkpoint``. Everything needed for a bit-exact resume on CPU is in each checkpoint: the
networks, the optimizers, every RNG state, the data position (epoch, offset) and the
selection / early-stopping state.
"""
from __future__ import annotations

import copy
import math
import signal
import time
from dataclasses import dataclass
from typing import Any

import torch

from genforge import __version__
from genforge.core import checkpoint as ck
from genforge.core.config import MAX_STEPS, RunConfig, config_to_json, parse_duration
from genforge.core.errors import ConfigError, TrainingDiverged
from genforge.core.images import save_png
from genforge.core.registry import MODELS, SELECTION_METRICS, TASKS
from genforge.core.runs import Run
from genforge.core.runtime import capture_rng, check_threads, peak_memory_mb, restore_rng, seed_everything, set_threads
from genforge.data.prepare import PreparedData
from genforge.data.split import BatchStream
from genforge.sampling.request import SampleRequest
from genforge.training.grids import eval_grid, grid_text
from genforge.training.logging import TrainLogger

WARMUP_STEPS = 8


@dataclass
class TrainResult:
    run: Run
    step: int
    best_step: int | None
    best_value: float | None
    metric: str
    stopped_early: bool
    interrupted: bool
    seconds: float


class _StopFlag:
    """SIGINT/SIGTERM set a flag; the loop stops at the next step boundary and checkpoints."""

    def __init__(self) -> None:
        self.set = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: no signal handling
            pass
        return self

    def _handle(self, signum, frame) -> None:
        if self.set:  # a second signal: stop now
            raise KeyboardInterrupt
        self.set = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _better(value: float, best: float | None, higher_is_better: bool) -> bool:
    """Is ``value`` an improvement on ``best``? A non-finite value is the worst either way (never an improvement)."""
    if not math.isfinite(value):
        return False
    return best is None or (value > best if higher_is_better else value < best)


class Trainer:
    def __init__(self, run: Run, cfg: RunConfig, data: PreparedData, device: torch.device, log=print) -> None:
        self.run, self.cfg, self.data, self.device, self.log = run, cfg, data, device, log
        self.threads = set_threads(cfg.train.threads)
        seed_everything(cfg.train.seed)
        self.spec = MODELS.get(cfg.model.name)  # the family's declaration: the Trainer reads nothing else of it
        self.conditional = self.spec.conditional_for(data.info)
        self.task = TASKS.get(self.spec.task if cfg.train.task == "auto" else cfg.train.task)(cfg, data.info, device)
        n = len(data.train)
        if cfg.train.batch_size > n:
            log(f"warning: batch size {cfg.train.batch_size} is larger than the train split ({n}); using {n}")
        self.batch_size = min(cfg.train.batch_size, n)
        self.stream = BatchStream(n, self.batch_size, seed=cfg.train.seed)
        self.metric_name = self.spec.selection_metric if cfg.train.selection_metric == "auto" else cfg.train.selection_metric
        # in-training sampling (selection metric, grids) uses the family's cheap settings
        self.request = self.spec.resolve(SampleRequest(**self.spec.sampling.during_training), cfg.model.name, self.conditional)
        metric_cls = SELECTION_METRICS.get(self.metric_name)
        self.higher_is_better = bool(getattr(metric_cls, "higher_is_better", False))
        self.metric = metric_cls(data, cfg.train.eval_samples, cfg.train.seed + 7, log)
        self.step, self.best_value, self.best_step, self.bad_evals = 0, None, None, 0
        self.total = cfg.train.steps
        self.last_saved: int | None = None
        self.last_save_time = time.monotonic()
        self.initialised = False  # weights copied from train.init_from

    # ---- state ---------------------------------------------------------------------------
    def _state(self, selection: float | None) -> dict[str, Any]:
        return {
            "step": self.step,
            "data": self.stream.state(),
            "rng": capture_rng(self.task.generators()),
            "selection_metric": self.metric_name,
            "selection_direction": "higher" if self.higher_is_better else "lower",
            "selection": selection,
            "best": {"step": self.best_step, "value": self.best_value},
            "bad_evals": self.bad_evals,
            "threads": self.threads,
            "data_info": self.data.info.to_json(),
            "genforge_version": __version__,
            "time": time.time(),
        }

    def save(self, selection: float | None = None) -> ck.Checkpoint:
        nets = {name: net.state_dict() for name, net in self.task.networks().items()}
        ckpt = ck.save_checkpoint(self.run.checkpoints_dir, self.step, nets, self.task.optimizers(), self._state(selection))
        ck.prune(self.run.checkpoints_dir, self.cfg.train.keep_last, warn=self.log)
        self.last_saved, self.last_save_time = self.step, time.monotonic()
        return ckpt

    def restore(self, ckpt: ck.Checkpoint) -> None:
        """Load everything a verified checkpoint holds; CheckpointError if any of it does not fit this run."""
        try:
            self._restore(ckpt)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError, OverflowError) as err:
            reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
            raise ck.CheckpointError(f"checkpoint {ckpt.step} does not fit this run ({reason})") from None

    def _restore(self, ckpt: ck.Checkpoint) -> None:
        state = ckpt.state()
        saved = state["data_info"]
        if saved["content_hash"] != self.data.info.content_hash:
            raise ConfigError(f"{self.cfg.data.name} changed since checkpoint {ckpt.step} was written (content hash "
                              "differs); resuming would train on other data. Train a new run, or --init-from this one")
        if saved.get("prep_hash") != self.data.info.prep_hash:
            self.log(f"warning: {self.cfg.data.name} is prepared differently than when checkpoint {ckpt.step} was "
                     "written (a newer image decoder or preprocessing); training continues on the data as it loads now")
        for name, net in self.task.networks().items():
            net.load_state_dict(ck.load_tensors(ckpt, name))
        for name, opt in self.task.optimizers().items():
            ck.load_optimizer(ckpt, name, opt)
        restore_rng(state["rng"], self.task.generators())
        epoch, offset = state["data"]["epoch"], state["data"]["offset"]
        if not (type(epoch) is int and type(offset) is int and 0 <= epoch <= 2**40 and 0 <= offset <= self.stream.n):
            raise ValueError(f"data position {state['data']!r} is out of range")
        self.stream.load_state(state["data"])
        best, bad_evals = state["best"], state["bad_evals"]
        best_value = ck.finite_number(best["value"])  # NaN or a string is "no best yet", never the best
        if not (best["step"] is None or type(best["step"]) is int) or type(bad_evals) is not int:
            raise ValueError("best/bad_evals are malformed")
        self.step = ckpt.step
        self.best_step, self.best_value = best["step"], best_value
        self.bad_evals = bad_evals
        self.last_saved = self.step
        check_threads(state.get("threads"))

    def init_from(self, source: Run) -> None:
        """Fine-tune: copy the networks of another run's best checkpoint (fresh optimizers)."""
        src_cfg = source.config()
        if src_cfg.model.name != self.cfg.model.name:
            raise ConfigError(f"cannot fine-tune a {self.cfg.model.name} from {source.path}, a {src_cfg.model.name} run")
        ckpt = source.select_checkpoint("best", warn=self.log)
        for name, net in self.task.networks().items():
            try:
                net.load_state_dict(ck.load_tensors(ckpt, name))
            except (RuntimeError, FileNotFoundError) as err:
                raise ConfigError(
                    f"cannot fine-tune from {source.path}: its {name} does not fit this data "
                    f"(image size, channels or classes differ): {str(err).splitlines()[0]}"
                ) from None
        self.initialised = True
        self.log(f"initialised from {ckpt.path}")

    # ---- warm-up: time estimate without changing the run ------------------------------------
    def _snapshot(self) -> tuple:
        nets = {n: copy.deepcopy(m.state_dict()) for n, m in self.task.networks().items()}
        opts = {n: copy.deepcopy(o.state_dict()) for n, o in self.task.optimizers().items()}
        return nets, opts, capture_rng(self.task.generators())

    def _restore_snapshot(self, snap: tuple) -> None:
        nets, opts, rng = snap
        for n, m in self.task.networks().items():
            m.load_state_dict(nets[n])
        for n, o in self.task.optimizers().items():
            o.load_state_dict(opts[n])
        restore_rng(rng, self.task.generators())

    def warmup(self) -> tuple[float, float]:
        """Seconds per step and per evaluation, measured on throwaway steps; state is restored."""
        snap = self._snapshot()
        stream = BatchStream(len(self.data.train), self.batch_size, seed=self.cfg.train.seed + 99)
        times = []
        for i in range(WARMUP_STEPS):
            t0 = time.perf_counter()
            self._train_step(stream, i)
            times.append(time.perf_counter() - t0)
        t_step = sorted(times[2:])[len(times[2:]) // 2]  # median, after two warm-up steps
        self.metric(self.sample, self.task.networks())
        t_eval = self.metric.last_seconds
        self._restore_snapshot(snap)
        return t_step, t_eval

    def _plan(self, t_step: float, t_eval: float) -> None:
        """Print the estimate; convert a time budget into steps (from the current step on) and record them."""
        spe = self.stream.steps_per_epoch
        self.log(f"estimate: {t_step * spe:.1f}s per epoch ({spe} steps of {self.batch_size}), "
                 f"{t_eval:.2f}s per evaluation, peak memory {peak_memory_mb(self.device):.0f} MB")
        if self.cfg.train.time_budget:
            budget = parse_duration(self.cfg.train.time_budget)
            more = max(int(budget / (t_step + t_eval / self.cfg.train.eval_every)), 1)
            steps = min(self.step + more, MAX_STEPS)
            self.cfg = self.cfg.model_copy(update={"train": self.cfg.train.model_copy(update={"steps": steps})})
            self.total = steps
            self.log(f"time budget {self.cfg.train.time_budget} -> {more} steps, to step {steps} (recorded in config.json)")
        ck.atomic_write_text(self.run.path / "config.json", config_to_json(self.cfg))

    def sample(self, n: int, labels: torch.Tensor | None, seed: int) -> torch.Tensor:
        """n samples in [-1, 1] from the EMA weights when the task keeps them, else the family's sample network."""
        nets = self.task.networks()
        net = nets.get("ema", nets[self.spec.sample_net])
        return self.spec.generate(net, self.request, n, labels if self.conditional else None, seed)

    # ---- the loop -------------------------------------------------------------------------
    def _set_lr(self, step: int) -> None:
        """Stateless schedule: the learning rate is a function of (step, total), so resume needs nothing more."""
        optim = self.cfg.optim
        start = int(optim.decay_start * self.total)
        factor = 1.0
        if optim.schedule == "linear" and step >= start and self.total > start:
            factor = max(self.total - step, 0) / (self.total - start)
        for opt in self.task.optimizers().values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])
                group["lr"] = group["initial_lr"] * factor

    def _train_step(self, stream: BatchStream, step: int) -> dict[str, torch.Tensor]:
        self._set_lr(step)
        return self.task.train_step(self.task.batch(self.data.train, stream.next_indices()), step)

    def _check_finite(self, losses: dict[str, float]) -> None:
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        if bad:
            where = f"step {self.last_saved} ({self.run.checkpoints_dir / str(self.last_saved)})" if self.last_saved else "none yet"
            raise TrainingDiverged(
                f"{bad[0]} became {losses[bad[0]]} at step {self.step}; training stopped. Last good checkpoint: "
                f"{where}. Try lower learning rates (the optim.* keys, docs/cli.md)"
            )

    def maybe_eval(self, logger: TrainLogger) -> tuple[float | None, bool]:
        """Returns (value, improved) at evaluation steps, (None, False) otherwise."""
        if not (self.step % self.cfg.train.eval_every == 0 or self.step == self.total):
            return None, False
        value = self.metric(self.sample, self.task.networks())
        improved = _better(value, self.best_value, self.higher_is_better)
        if improved:
            self.best_value, self.best_step, self.bad_evals = value, self.step, 0
        else:
            self.bad_evals += 1
        logger.log_eval(self.step, self.metric_name, value, self.metric.last_seconds, improved)
        if self.cfg.train.grid_every_eval:
            grid = eval_grid(self.sample, self.conditional, self.data.info, self.cfg.train.seed)
            save_png(grid, self.run.samples_dir / f"step-{self.step:07d}.png", grid_text(self.run, self.step, self.cfg.train.seed, self.conditional))
            logger.log_images(self.step, grid)
            logger.log_histograms(self.step, self.task.networks()[self.spec.sample_net], self.spec.sample_net)
        return value, improved

    def _resume(self) -> bool:
        """Restore the newest intact checkpoint that fits; False when none was ever committed (start from 0).

        Corrupt checkpoints (and ones that verify but do not load) are quarantined, but only once an
        intact one has been restored: with none intact the run is refused and nothing is touched.
        """
        intact, corrupt = ck.partition(self.run.checkpoints_dir)
        if not intact:
            if corrupt or ck.quarantined(self.run.checkpoints_dir):
                first = corrupt[0][1] if corrupt else "only quarantined *.corrupt checkpoints remain"
                raise ck.CheckpointError(f"{self.run.path} has no intact checkpoint ({first}); nothing was changed or "
                                         "deleted. Inspect the checkpoints, or train a new run")
            self.log(f"{self.run.path} has no committed checkpoint yet; starting it from step 0 with its config")
            return False
        unusable = list(corrupt)
        for _, reason in (c for c in corrupt if c[0].step > intact[-1].step):
            self.log(f"warning: {reason}; falling back to an earlier checkpoint")
        for ckpt in reversed(intact):
            try:
                self.restore(ckpt)
                break
            except ck.CheckpointError as err:
                unusable.append((ckpt, str(err)))
                self.log(f"warning: {err}; falling back to an earlier checkpoint")
        else:
            raise ck.CheckpointError(f"no checkpoint of {self.run.path} fits its config.json (newest: {unusable[len(corrupt)][1]}); "
                                     "nothing was changed. Was config.json edited?")
        if self.total < self.step:
            raise ConfigError(f"--steps {self.total} is below the current step {self.step} of {self.run.path}; "
                              f"pass a larger --steps to continue (or sample from the run as it is)")
        for ckpt, reason in unusable:
            if ckpt.path.exists():
                ck.quarantine(ckpt, reason, self.log)
        return True

    def _start(self) -> None:
        """A new run (or one with no committed checkpoint): fine-tune source, warm-up estimate, checkpoint at step 0."""
        if self.cfg.train.init_from and not self.initialised:
            from genforge.core.runs import open_run

            self.init_from(open_run(self.cfg.train.init_from))
        self._plan(*self.warmup())
        self.save()  # a kill in the first minutes loses only those minutes

    def fit(self, resume: bool = False, replan: bool = False) -> TrainResult:
        """Train to ``cfg.train.steps`` (or, with ``replan``, for ``cfg.train.time_budget`` more). The caller holds
        the run's writer lock."""
        t_start = time.perf_counter()
        removed = ck.clean_stale(self.run.checkpoints_dir)
        if removed:
            self.log(f"removed unfinished checkpoint(s) from an interrupted save: {', '.join(removed)}")
        if resume and self._resume():
            if replan and self.cfg.train.time_budget:
                self._plan(*self.warmup())
            else:  # the new config fits the restored state: only now may it replace config.json
                ck.atomic_write_text(self.run.path / "config.json", config_to_json(self.cfg))
            self.run.truncate_metrics(self.step)
            self.log(f"resuming {self.run.path} from step {self.step}")
        else:
            self._start()
        stopped_early = interrupted = False
        with TrainLogger(self.run, self.total, self.step) as logger, _StopFlag() as stop:
            while self.step < self.total:
                losses = {k: float(v) for k, v in self._train_step(self.stream, self.step).items()}
                self.step += 1
                self._check_finite(losses)
                if self.step % self.cfg.train.log_every == 0 or self.step == self.total:
                    logger.log_step(self.step, losses, self.batch_size, self.stream.epoch)
                value, improved = self.maybe_eval(logger)
                patience = self.cfg.train.patience
                stopped_early = value is not None and patience is not None and self.bad_evals >= patience
                due = self.step % self.cfg.train.checkpoint_every == 0 or self.step == self.total or \
                    time.monotonic() - self.last_save_time >= 60 * self.cfg.train.checkpoint_minutes
                if improved or stopped_early or stop.set or due:
                    self.save(value)
                if stopped_early:
                    logger.print(f"early stopping at step {self.step}: no improvement in {patience} evaluations")
                    break
                if stop.set:
                    interrupted = True
                    logger.print(f"interrupted at step {self.step}; checkpoint saved, continue with --resume {self.run.path}")
                    break
        if self.last_saved != self.step:
            self.save()
        return TrainResult(self.run, self.step, self.best_step, self.best_value, self.metric_name, stopped_early, interrupted,
                           time.perf_counter() - t_start)
