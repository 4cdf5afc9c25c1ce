"""`gan-run`: the Hydra app. Composes conf/ (shipped as the package gan_runner.conf) and trains."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from gan_runner.errors import UserError

log = logging.getLogger("gan_runner")


def run_identity() -> tuple[Path, str, str | None]:
    """The job's output directory, its name (its command-line overrides) and, in a sweep, its group."""
    hydra_cfg = HydraConfig.get()
    name = hydra_cfg.job.override_dirname or "defaults"
    group = None
    if hydra_cfg.mode == RunMode.MULTIRUN:
        group = "sweep-" + Path(hydra_cfg.sweep.dir).as_posix().replace("/", "_").lstrip("_.")
    return Path(hydra_cfg.runtime.output_dir), name, group


@hydra.main(version_base="1.3", config_path="pkg://gan_runner.conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from gan_runner.train import train  # imported here so that `gan-run --help` stays quick

    run_dir, name, group = run_identity()
    try:
        summary = train(cfg, run_dir, name, group)
    except UserError as error:
        print(f"gan-run: error: {error}", file=sys.stderr)
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            sys.exit(2)
        return
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in summary["metrics"].items())
    log.info("%s in %.0f s; run directory %s%s", summary["status"], summary["wall_time_s"], run_dir,
             f"; {metrics}" if metrics else "")


if __name__ == "__main__":
    main()
