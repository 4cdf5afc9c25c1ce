"""Pictures of a run: sample grids for images, scatter plots over the discriminator's landscape for
2-D data, and loss curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch


def image_grid(images: torch.Tensor, rows: int | None = None) -> np.ndarray:
    """Images in [-1, 1] (N x C x H x W) -> one uint8 H x W x 3 grid, `rows` images a row."""
    from torchvision.utils import make_grid  # here: importing torchvision costs a second at start-up

    nrow = rows or int(np.ceil(np.sqrt(len(images))))
    images = images.detach().float().cpu().clamp(-1, 1)
    if images.shape[-1] < 32:  # small images are enlarged (nearest neighbour) so that people can see them
        images = torch.nn.functional.interpolate(images, scale_factor=32 // images.shape[-1], mode="nearest")
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    return ((grid + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def scatter_plot(
    fake: torch.Tensor,
    real: torch.Tensor,
    critic: Callable[[torch.Tensor], torch.Tensor] | None = None,
    title: str = "",
) -> np.ndarray:
    """2-D samples (orange) over real ones (blue) and the discriminator's score contours: the picture
    that shows mode collapse. Returns uint8 H x W x 3."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fake, real = fake.detach().cpu(), real.detach().cpu()
    extent = float(max((real if len(real) else fake).abs().max(), 1.0)) * 1.3
    figure, axes = plt.subplots(figsize=(5, 5), dpi=100)
    if critic is not None:
        ticks = torch.linspace(-extent, extent, 120)
        xs, ys = torch.meshgrid(ticks, ticks, indexing="xy")
        with torch.no_grad():
            scores = critic(torch.stack([xs.flatten(), ys.flatten()], 1)).view(xs.shape).cpu()
        contours = axes.contourf(xs.numpy(), ys.numpy(), scores.numpy(), levels=20, cmap="Greys", alpha=0.6)
        figure.colorbar(contours, ax=axes, fraction=0.046, pad=0.04, label="D score")
    axes.scatter(real[:, 0], real[:, 1], s=4, c="tab:blue", alpha=0.5, label="real")
    axes.scatter(fake[:, 0], fake[:, 1], s=4, c="tab:orange", alpha=0.5, label="generated")
    axes.set(xlim=(-extent, extent), ylim=(-extent, extent), aspect="equal", title=title)
    axes.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
    plt.close(figure)
    return pixels


def loss_curves(metrics_file: Path) -> np.ndarray | None:
    """Every loss/, reg/ and d/ series of metrics.jsonl against the step, as uint8 H x W x 3 (None when
    nothing was logged yet)."""
    if not metrics_file.is_file():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    keys = sorted({k for row in rows for k in row if k.split("/")[0] in ("loss", "reg", "d")})
    if not keys:
        return None
    panels = sorted({k.split("/")[0] for k in keys})
    figure, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), dpi=100, squeeze=False)
    for axis, panel in zip(axes[0], panels):
        for key in (k for k in keys if k.startswith(panel + "/")):
            points = [(row["step"], row[key]) for row in rows if key in row]
            axis.plot(*zip(*points), label=key, linewidth=1)
        axis.set(xlabel="step", title=panel)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
    plt.close(figure)
    return pixels


def save_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
