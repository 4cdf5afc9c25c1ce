"""pytorch/examples' DCGAN training loop (dcgan/main.py), the ~30 lines written again here: D on a real batch with
label 1 and on G(z).detach() with label 0, then G on the same fakes with label 1; Adam as the preset says. The
reference the dcgan preset is checked against (tests/test_presets.py: three iterations leave G and D where this loop
leaves them) and the loop the step benchmark times gan-runner's step against (gan_runner/bench/step.py). The
example's per-iteration print (four .item() calls) is left out, and BCEWithLogits on D's raw scores stands for its
Sigmoid + BCELoss (the same loss, computed stably)."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Optional

import torch
from omegaconf import DictConfig
from torch import nn

Iteration = Callable[[], None]


def adam(cfg: DictConfig, module: nn.Module, lr: float, **options: bool) -> torch.optim.Adam:
    return torch.optim.Adam(module.parameters(), lr=lr, betas=tuple(float(b) for b in cfg.train.betas), **options)


def plain_loop(G: nn.Module, D: nn.Module, cfg: DictConfig, device: torch.device, precision: str, mode: str,
               real_batches: Iterator[torch.Tensor]) -> Optional[Iteration]:
    """One iteration of the example's loop on the next of `real_batches` per call; None for a CUDA graph (the example
    has no such version). `mode` eager or compile; `precision` fp32 or bf16 (autocast)."""
    if mode == "graph":
        return None
    opt_g, opt_d = adam(cfg, G, cfg.train.lr_g), adam(cfg, D, cfg.train.lr_d)
    if mode == "compile":
        G, D = torch.compile(G), torch.compile(D)
    autocast = ((lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16"
                else contextlib.nullcontext)
    criterion = nn.BCEWithLogitsLoss()
    batch_size = cfg.train.batch_size
    ones, zeros = torch.ones(batch_size, device=device), torch.zeros(batch_size, device=device)

    def iteration() -> None:
        real = next(real_batches)
        D.zero_grad(set_to_none=True)
        with autocast():
            err_real = criterion(D(real), ones)
        err_real.backward()
        noise = torch.randn(batch_size, cfg.z_dim, device=device)
        with autocast():
            fake = G(noise)
            err_fake = criterion(D(fake.detach()), zeros)
        err_fake.backward()
        opt_d.step()
        G.zero_grad(set_to_none=True)
        with autocast():
            err_g = criterion(D(fake), ones)
        err_g.backward()
        opt_g.step()

    return iteration
