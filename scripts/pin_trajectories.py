"""Writes tests/fixtures/trajectories.json: the per-step losses (and the weights' sums after the last step) of short
runs of several configurations, so that a change of the engine that should not change training (the game redesign:
docs/games.md) is checked against the numbers training gave before it. Re-run only when a change of the numbers is
intended, and say why in the commit.

    OMP_NUM_THREADS=1 python scripts/pin_trajectories.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "trajectories.json"
STEPS = 4

COMMON = ["train.device=cpu", "logger=none", "metrics=none", "health=none", f"train.steps={STEPS}"]
TINY = ["arch.generator.width=8", "arch.discriminator.width=8"]
# Each configuration by name: the overrides after COMMON. Together they cover both update orders, n_critic > 1,
# kept fakes, separate passes, lazy and input-gradient penalties, spectral norm, conditioning, two latents.
CONFIGS = {
    "ring8_default": ["dataset=ring8", "train.batch_size=32", *TINY],
    "ring8_wgan_gp": ["dataset=ring8", "objective=wgan", "regulariser=gp", "train.n_critic=3", "train.batch_size=32",
                      *TINY],
    "ring8_simultaneous_r1": ["dataset=ring8", "regulariser=r1", "regulariser.r1.every=2", "train.simultaneous=true",
                              "latent=uniform", "train.batch_size=32", *TINY],
    "digits_dcgan_preset": ["experiment=dcgan", "dataset=digits", "train.batch_size=16", "train.device=cpu", *TINY],
    "digits_conditional_hinge_sn": ["dataset=digits", "arch=dcgan", "conditional=true", "objective=hinge",
                                    "regulariser=spectral_norm", "train.batch_size=16", *TINY],
    "digits_resnet_ragan_g_batch": ["dataset=digits", "arch=resnet", "objective=ragan", "train.g_batch_size=24",
                                    "train.batch_size=12", *TINY],
}


def trajectory(overrides: list[str]) -> dict:
    from hydra import compose, initialize_config_module

    from gan_runner.engine.build import build_parts, build_step

    with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*COMMON, *overrides, "train.device=cpu"])
    parts = build_parts(cfg)
    step = build_step(cfg, parts)
    state, rows = parts.state, []
    for _ in range(STEPS):
        step()
        means = state.stats.means()  # the step's statistics (the collector starts afresh after each read)
        rows.append({key: means[key] for key in ("loss/d", "loss/g")})
    with torch.no_grad():
        sums = {name: float(sum(p.double().sum() for p in module.parameters()))
                for name, module in (("G", state.G), ("D", state.D), ("G_ema", state.ema.model))}
    return {"overrides": overrides, "losses": rows, "weight_sums": sums}


def main() -> None:
    torch.set_num_threads(1)
    pinned = {name: trajectory(overrides) for name, overrides in CONFIGS.items()}
    FIXTURE.write_text(json.dumps(pinned, indent=1) + "\n")
    print(f"wrote {FIXTURE.relative_to(REPO)} ({len(pinned)} configurations, {STEPS} steps each)", file=sys.stderr)


if __name__ == "__main__":
    main()
