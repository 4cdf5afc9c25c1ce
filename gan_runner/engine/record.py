"""What a run leaves behind: metrics.jsonl rows of statistics averaged since the previous row, sample pictures,
checkpoints and summary.json, mirrored to the logger. Only the loop calls these, and only these talk to the
logger. On several processes (gan_runner.engine.distributed) process 0's record writes; the others' write nothing
but take part in what a checkpoint computes together (the statistics' check and their averaged sums)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gan_runner.engine import distributed
from gan_runner.run_directory import keep_latest, save_checkpoint
from gan_runner.loggers import Logger
from gan_runner.metrics import Sampler
from gan_runner.engine.state import TrainingState
from gan_runner.engine.stopping import check_parameters
from gan_runner.pictures import image_grid, loss_curves, save_gif, save_png, scatter_plot


STATISTICS = ("loss", "reg", "reg_g", "d")  # the prefixes of the training steps' statistics


class RunRecord:
    """The run directory's files, mirrored to the logger. `writes`: whether this process writes them (process 0)."""

    def __init__(self, run_dir: Path, logger: Logger, checkpoint_extras: dict[str, Any], keep_checkpoints: int,
                 writes: bool = True) -> None:
        self.run_dir, self.logger, self.writes = run_dir, logger, writes
        self.metrics_file = run_dir / "metrics.jsonl"
        self.checkpoints = run_dir / "checkpoints"
        self.checkpoint_extras, self.keep_checkpoints = checkpoint_extras, keep_checkpoints
        self.latest: dict[str, float] = {}

    def log(self, values: dict[str, float], step: int, images_seen: int) -> None:
        if not values:
            return
        self.latest.update(values)
        if not self.writes:
            return
        row = {"images_seen": images_seen, **values}
        with open(self.metrics_file, "a") as handle:
            handle.write(json.dumps({"step": step, **row}) + "\n")
        self.logger.log(row, step)

    def image(self, key: str, image: np.ndarray, file: Path, step: int, images_seen: int) -> None:
        if not self.writes:
            return
        save_png(image, self.run_dir / file)
        self.logger.log_image(key, image, step, images_seen)

    def truncate_after(self, step: int) -> None:
        """Drops the rows logged after `step`: a run resumed from its checkpoint at `step` logs them again."""
        if self.writes:
            truncate_metrics(self.metrics_file, step)

    def closing_pictures(self, last_samples: np.ndarray | None, step: int, images_seen: int) -> None:
        """The last grid again as `final_samples` (a W&B panel of every run's final samples), the animation of
        the run's grids and the loss curves."""
        if not self.writes:
            return
        if last_samples is not None:
            self.image("final_samples", last_samples, Path("final_samples.png"), step, images_seen)
        self.animation()
        curves = loss_curves(self.metrics_file)
        if curves is not None:
            self.image("loss_curves", curves, Path("loss_curves.png"), step, images_seen)

    def animation(self) -> None:
        """samples/training.gif: every samples/step_NNNNNN.png of the run (a resumed run's earlier ones
        included) in step order, when there are at least two."""
        frames = sorted((self.run_dir / "samples").glob("step_*.png"))
        if len(frames) >= 2:
            save_gif(frames, self.run_dir / "samples" / "training.gif")

    def checkpoint(self, state: TrainingState, file: str = "last.pt") -> None:
        """Writes the state atomically; a state holding a NaN never replaces a good checkpoint (Diverged). Every
        process calls it: the check and the state's statistics are computed together."""
        state.stats.check()
        check_parameters({"G": state.G, "D": state.D})
        distributed.check_identical({"G": state.G, "D": state.D, "G_ema": state.ema.model})
        contents = state.state_dict()
        if not self.writes:
            return
        save_checkpoint(self.checkpoints / file, {**contents, **self.checkpoint_extras,
                                                  "logger_run_id": self.logger.run_id})
        if file == "last.pt":
            keep_latest(self.checkpoints, state.step, self.keep_checkpoints)

    def finish(self, summary: dict[str, Any], best_key: str | None) -> dict[str, Any]:
        """summary.json, with the last losses logged, and the logger's summary; closes the logger."""
        summary["final_losses"] = {k: v for k, v in self.latest.items() if k.split("/")[0] in STATISTICS}
        # The best key's summary is its minimum or maximum (track_best), not its final value.
        last_values = {k: v for k, v in summary["metrics"].items() if k != best_key}
        best = {f"best/{k}": v for k, v in (summary["best"] or {}).items()}
        self.logger.summary({**last_values, **best, "status": summary["status"], "health": summary.get("health"),
                             **{f"params/{network}": count for network, count in summary["params"].items()}})
        if (self.checkpoints / "best.pt").is_file():
            self.logger.log_checkpoint(self.checkpoints / "best.pt", "best")
        summary["wandb"] = self.logger.finish() or None
        if self.writes:
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary


def truncate_metrics(metrics_file: Path, step: int) -> None:
    """Drops rows logged after `step`: a run resumed from its checkpoint at `step` logs them again."""
    if metrics_file.is_file():
        rows = [row for row in metrics_file.read_text().splitlines() if row and json.loads(row)["step"] <= step]
        metrics_file.write_text("".join(row + "\n" for row in rows))


def sample_picture(G_ema: nn.Module, D: nn.Module, fixed: tuple[torch.Tensor, torch.Tensor | None],
                   dataset: Any, sample: Sampler, seed: int, step: int, objective: Any = None) -> np.ndarray:
    """Images: a grid of the averaged G's samples of the fixed z (a row per class when conditional). 2-D data:
    1,000 samples over 1,000 real points and D's landscape (none for a conditional D, which has one per class).
    A dataset with a `picture` method draws its own (gauss1d: Goodfellow et al. 2014's Figure 1)."""
    if hasattr(dataset, "picture"):
        return dataset.picture(G_ema, D, objective, fixed, sample, step)
    z, labels = fixed
    with torch.no_grad():
        fake = G_ema(z, labels)
    if fake.dim() == 4:
        return image_grid(fake, rows=8 if labels is not None else None)
    real, _ = dataset.sample(1000, torch.Generator().manual_seed(seed + 3))
    device = next(D.parameters()).device
    landscape = None if labels is not None else (lambda x: D(x.to(device)))
    D.eval()
    try:
        return scatter_plot(torch.cat([points.cpu() for points in sample(1000)]), real, landscape, f"step {step}")
    finally:
        D.train()
