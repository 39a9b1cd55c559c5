"""Where training reports go: metrics.jsonl, TensorBoard event files, sample grids, the console."""
from __future__ import annotations

import math
import sys
import time

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from genforge.core.runs import Run


class TrainLogger:
    def __init__(self, run: Run, total_steps: int, start_step: int, console: Console | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter  # heavy import: only when training

        self.run = run
        self.console = console or Console(stderr=True)
        self.tb = SummaryWriter(log_dir=str(run.tb_dir), purge_step=start_step if start_step else None)
        self.interactive = self.console.is_terminal
        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, disable=not self.interactive,
        )
        self.bar = self.progress.add_task("train", total=total_steps, completed=start_step, info="")
        self._t_last, self._step_last = time.perf_counter(), start_step

    def __enter__(self) -> TrainLogger:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()
        self.tb.flush()
        self.tb.close()

    def print(self, msg: str) -> None:
        self.progress.console.print(msg, markup=False, highlight=False) if self.interactive else print(msg, file=sys.stderr)

    def log_step(self, step: int, losses: dict[str, float], batch_size: int, epoch: int) -> None:
        now = time.perf_counter()
        img_s = (step - self._step_last) * batch_size / max(now - self._t_last, 1e-9)
        self._t_last, self._step_last = now, step
        record = {"step": step, "epoch": epoch, "img_per_s": round(img_s, 1), **{k: round(v, 6) for k, v in losses.items()}}
        self.run.append_metrics(record)
        for k, v in losses.items():
            self.tb.add_scalar(f"train/{k}", v, step)
        self.tb.add_scalar("train/img_per_s", img_s, step)
        info = f"{img_s:6.0f} img/s  " + "  ".join(f"{k} {v:+.3f}" for k, v in list(losses.items())[:4])
        self.progress.update(self.bar, completed=step, info=info)

    def log_eval(self, step: int, name: str, value: float, seconds: float, improved: bool) -> None:
        self.run.append_metrics({"step": step, "eval": {name: value, "seconds": round(seconds, 3)}})
        self.tb.add_scalar(f"eval/{name}", value, step)
        self.tb.add_scalar("eval/seconds", seconds, step)
        mark = " (best)" if improved else ""
        line = f"step {step}: {name} {value:.4g}{mark}  [{seconds:.1f}s]"
        if not self.interactive:
            print(line, file=sys.stderr)

    def log_images(self, step: int, grid_uint8: torch.Tensor) -> None:
        self.tb.add_image("samples", grid_uint8, step)

    def log_histograms(self, step: int, net: torch.nn.Module, prefix: str) -> None:
        for name, p in net.named_parameters():
            if p.numel() > 1 and math.isfinite(float(p.detach().abs().max())):
                self.tb.add_histogram(f"{prefix}/{name}", p.detach().cpu(), step)
