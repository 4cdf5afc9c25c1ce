"""What a run leaves behind, as it trains: metrics.jsonl rows, sample pictures, checkpoints and summary.json in its
run directory (whose format gan_runner.run_directory owns), mirrored to the logger. Only the loop's tasks call
these, and only these talk to the logger. On several processes (gan_runner/distributed.py) process 0's record
writes; the others write nothing but take part in what a checkpoint computes together (the statistics' check and
their averaged sums)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gan_runner import distributed
from gan_runner.engine.state import TrainingState
from gan_runner.engine.stopping import check_parameters
from gan_runner.loggers import Logger
from gan_runner.pictures import loss_curves, save_gif, save_png
from gan_runner.run_directory import Checkpoint, RunDirectory, statistic_section


class RunRecord:
    """The run directory's files, mirrored to the logger. `about`: what every checkpoint says besides the state
    (config, data_shape, num_classes, identity); `writes`: whether this process writes (process 0)."""

    def __init__(self, directory: RunDirectory, logger: Logger, about: dict[str, Any], keep_checkpoints: int,
                 writes: bool = True) -> None:
        self.directory, self.logger, self.about, self.writes = directory, logger, about, writes
        self.keep_checkpoints = keep_checkpoints
        self.latest: dict[str, float] = {}  # every value logged, its latest

    def log(self, values: dict[str, float], step: int, images_seen: int) -> None:
        if not values:
            return
        self.latest.update(values)
        if not self.writes:
            return
        row = {"images_seen": images_seen, **values}
        self.directory.append_row({"step": step, **row})
        self.logger.log(row, step)

    def image(self, key: str, image: np.ndarray, file: Path, step: int, images_seen: int) -> None:
        if not self.writes:
            return
        save_png(image, self.directory.path / file)
        self.logger.log_image(key, image, step, images_seen)

    def truncate_after(self, step: int) -> None:
        """Drops the rows logged after `step`: a run resumed from its checkpoint at `step` logs them again."""
        if self.writes:
            self.directory.truncate_rows_after(step)

    def closing_pictures(self, last_samples: np.ndarray | None, step: int, images_seen: int) -> None:
        """The last grid again as `final_samples` (a W&B panel of every run's final samples), the animation of the
        run's grids (samples/training.gif, a resumed run's earlier ones included) and the loss curves."""
        if not self.writes:
            return
        if last_samples is not None:
            self.image("final_samples", last_samples, Path("final_samples.png"), step, images_seen)
        frames = sorted(self.directory.samples.glob("step_*.png"))
        if len(frames) >= 2:
            save_gif(frames, self.directory.samples / "training.gif")
        curves = loss_curves(self.directory.rows)
        if curves is not None:
            self.image("loss_curves", curves, Path("loss_curves.png"), step, images_seen)

    def checkpoint(self, state: TrainingState, name: str = "last") -> None:
        """Writes the state atomically; a state holding a NaN never replaces a good checkpoint (Diverged). Every
        process calls it: the check and the state's statistics are computed together."""
        state.stats.check()
        check_parameters({"G": state.G, "D": state.D})
        distributed.check_identical({"G": state.G, "D": state.D, "G_ema": state.ema.model})
        contents = state.state_dict()
        if not self.writes:
            return
        Checkpoint(contents, logger_run_id=self.logger.run_id, **self.about).save(self.directory.checkpoint(name))
        if name == "last":
            self.directory.keep_latest(state.step, self.keep_checkpoints)

    def finish(self, summary: dict[str, Any], best_key: str | None) -> dict[str, Any]:
        """summary.json, with the last losses logged, and the logger's summary; closes the logger."""
        summary["final_losses"] = {k: v for k, v in self.latest.items() if statistic_section(k) == "losses"}
        # The best key's summary is its minimum or maximum (track_best), not its final value.
        last_values = {k: v for k, v in summary["metrics"].items() if k != best_key}
        best = {f"best/{k}": v for k, v in (summary["best"] or {}).items()}
        self.logger.summary({**last_values, **best, "status": summary["status"], "health": summary.get("health"),
                             **{f"params/{network}": count for network, count in summary["params"].items()}})
        if self.directory.checkpoint("best").is_file():
            self.logger.log_checkpoint(self.directory.checkpoint("best"), "best")
        summary["wandb"] = self.logger.finish() or None
        if self.writes:
            self.directory.write_summary(summary)
        return summary
