"""Pictures of a run: sample grids for images, scatter plots over the discriminator's landscape for
2-D data, the 1-D game's densities and discriminator, loss curves, and the animation of a run's samples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn


def image_grid(images: torch.Tensor, rows: int | None = None) -> np.ndarray:
    """Images in [-1, 1] (N x C x H x W) -> one uint8 H x W x 3 grid, `rows` images a row."""
    from torchvision.utils import make_grid  # here: importing torchvision costs a second at start-up

    nrow = rows or int(np.ceil(np.sqrt(len(images))))
    images = images.detach().float().cpu().clamp(-1, 1)
    if images.shape[-1] < 32:  # small images are enlarged (nearest neighbour) so that people can see them
        images = torch.nn.functional.interpolate(images, scale_factor=32 // images.shape[-1], mode="nearest")
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    return ((grid + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


PAIRED_COLUMNS = ("source", "output", "target")
PAIRED_MIN_SIDE = 64  # smaller targets are enlarged (nearest) to at least this, so that the column titles fit


def paired_picture(sources: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor, rows: int = 8) -> np.ndarray:
    """A paired game's picture: the first `rows` pairs, one a row, as source | output | target (images in [-1, 1],
    N x C x H x W) under those three column titles; uint8 H x W x 3. Sources smaller than the targets (x4
    super-resolution) are enlarged to the targets' size by nearest neighbour, so that each of their pixels shows as
    the block it is; one-channel images are shown grey; everything small is enlarged (nearest) to at least 64 pixels.
    Cells are framed by 2 white pixels, as image_grid's."""
    return titled_columns([sources, outputs, targets], PAIRED_COLUMNS, tuple(targets.shape[-2:]), rows)


def titled_columns(columns: list[torch.Tensor], titles: tuple[str, ...], size: tuple[int, int],
                   rows: int = 8) -> np.ndarray:
    """Image sets in [-1, 1] (each N x C x H x W, the same N) side by side, one column each under its title: the
    first `rows` of each, one a row; uint8 H x W x 3. Images of another size than `size` are enlarged (nearest) to
    it, one-channel ones shown grey, and all enlarged (nearest) to at least PAIRED_MIN_SIDE pixels so that the titles
    fit; cells are framed by 2 white pixels, as image_grid's. paired_picture's and cycle_picture's look."""
    from PIL import Image, ImageDraw
    from torchvision.utils import make_grid

    def shown(images: torch.Tensor) -> torch.Tensor:
        images = images[:rows].detach().float().cpu().clamp(-1, 1)
        if tuple(images.shape[-2:]) != size:
            images = torch.nn.functional.interpolate(images, size=size, mode="nearest")
        return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images

    cells = torch.stack([shown(images) for images in columns], 1).flatten(0, 1)  # row 0's cells, row 1's, ...
    scale = max(1, -(-PAIRED_MIN_SIDE // min(size)))  # ceil: 28 -> 3 (84 pixels)
    if scale > 1:
        cells = torch.nn.functional.interpolate(cells, scale_factor=scale, mode="nearest")
    grid = make_grid(cells, nrow=len(columns), padding=2, pad_value=1.0)
    pixels = ((grid + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    title_height, cell_width = 14, cells.shape[-1] + 2
    picture = Image.new("RGB", (pixels.shape[1], pixels.shape[0] + title_height), "white")
    picture.paste(Image.fromarray(pixels), (0, title_height))
    draw = ImageDraw.Draw(picture)
    for column, title in enumerate(titles):
        centre = 2 + column * cell_width + (cell_width - 2) // 2
        draw.text((centre, title_height // 2 + 1), title, fill="black", anchor="mm")
    return np.asarray(picture).copy()


CYCLE_COLUMNS = (("A", "A->B", "A->B->A"), ("B", "B->A", "B->A->B"))
CYCLE_GAP = 8  # white pixels between the two blocks


def cycle_picture(a: torch.Tensor, fake_b: torch.Tensor, rec_a: torch.Tensor, b: torch.Tensor, fake_a: torch.Tensor,
                  rec_b: torch.Tensor, rows: int = 8) -> np.ndarray:
    """The cycle game's picture: two blocks side by side, the first `rows` images of each domain one a row, as
    input | translation | reconstruction under the titles "A | A->B | A->B->A" (a, a_to_b(a), b_to_a(a_to_b(a)))
    and "B | B->A | B->A->B" (images in [-1, 1], N x C x H x W); uint8 H x W x 3, in paired_picture's look (white
    frames, nearest enlargement, grey shown as RGB). Both domains are shown at the larger of their sizes; a block with
    fewer rows is padded with white."""
    size = (max(a.shape[-2], b.shape[-2]), max(a.shape[-1], b.shape[-1]))
    blocks = [titled_columns(columns, titles, size, rows)
              for columns, titles in zip(([a, fake_b, rec_a], [b, fake_a, rec_b]), CYCLE_COLUMNS)]
    height = max(block.shape[0] for block in blocks)
    padded = [np.pad(block, ((0, height - block.shape[0]), (0, 0), (0, 0)), constant_values=255) for block in blocks]
    gap = np.full((height, CYCLE_GAP, 3), 255, dtype=np.uint8)
    return np.concatenate([padded[0], gap, padded[1]], axis=1)


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


@dataclass
class GameCurves:
    """Everything the 1-D game's picture (game_plot) draws, on the grid `x`: the data density p, the estimate q of
    G's density from its `samples`, D's curve `d` (a probability for logistic objectives, else the raw score), D*
    (None when D is not a probability), and the mapping x = G(z) at some z (None when z is not one-dimensional)."""

    x: torch.Tensor
    p: torch.Tensor
    q: torch.Tensor
    samples: torch.Tensor
    d: torch.Tensor
    d_is_probability: bool
    d_optimal: torch.Tensor | None
    mapping: tuple[torch.Tensor, torch.Tensor] | None


def game_plot(curves: GameCurves, title: str = "") -> np.ndarray:
    """Goodfellow et al. (2014)'s Figure 1 from GameCurves (gan_runner.data.gauss1d computes them): the data density
    p (black, dotted), the generator's q (green: a KDE over a histogram of its samples), D(x) (blue, dashed) on the
    right axis, D* = p / (p + q) (thin blue) when D is a probability, and below, when z is 1-D, arrows x = G(z) from
    evenly spread quantiles of z. A critic that is not a probability (wgan, hinge, ...) is drawn as its raw
    score, on a right axis of its own scale. Returns uint8 H x W x 3."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = curves.x.numpy()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 4.8), dpi=100, sharex=True,
                                         gridspec_kw={"height_ratios": [3, 1]})
    low, high = float(x[0]), float(x[-1])
    top.hist(curves.samples.clamp(low, high).numpy(), bins=60, range=(low, high), density=True,
             color="tab:green", alpha=0.2)
    top.plot(x, curves.p.numpy(), ":", color="black", linewidth=2, label="p (data)")
    top.plot(x, curves.q.numpy(), "-", color="tab:green", linewidth=1.5, label="q (G's samples, KDE)")
    # A scale set by p alone, the same in every frame of a run's GIF; a collapsed q's spike is cut off.
    top.set(ylim=(0, 2.5 * float(curves.p.max())), ylabel="density", title=title)
    right = top.twinx()
    if curves.d_is_probability:
        right.plot(x, curves.d.numpy(), "--", color="tab:blue", linewidth=2, label="D(x) = sigmoid(score)")
        right.plot(x, curves.d_optimal.numpy(), "-", color="tab:blue", linewidth=0.8, label="D* = p / (p + q)")
        right.set(ylim=(0, 1.05), ylabel="D(x)")
    else:
        right.plot(x, curves.d.numpy(), "--", color="tab:blue", linewidth=2, label="critic score (raw)")
        right.set(ylabel="critic score (raw, not a probability)")
    handles = [h for axes in (top, right) for h in axes.get_legend_handles_labels()[0]]
    top.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=7)
    bottom.set(ylim=(-0.15, 1.15), yticks=[0, 1], yticklabels=["z", "x"], xlabel="x")
    bottom.axhline(1, color="black", linewidth=0.8)
    if curves.mapping is not None:
        z, fake = (values.flatten().numpy() for values in curves.mapping)
        # z is drawn on the x axis's span, stretched linearly: only the order and spacing of the arrows matter
        z_span = (z.min(), z.max()) if z.max() > z.min() else (z.min() - 1, z.min() + 1)
        z_on_axis = low + (z - z_span[0]) / (z_span[1] - z_span[0]) * (high - low)
        bottom.axhline(0, color="black", linewidth=0.8)
        for start, end in zip(z_on_axis, np.clip(fake, low, high)):
            bottom.annotate("", xy=(end, 1), xytext=(start, 0),
                            arrowprops={"arrowstyle": "->", "color": "tab:green", "linewidth": 0.7})
    else:
        bottom.text(0.5, 0.3, "z has more than one dimension: no mapping drawn", transform=bottom.transAxes,
                    ha="center", fontsize=8)
    figure.tight_layout()
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
    plt.close(figure)
    return pixels


def save_gif(frames: list[Path], path: Path, frame_ms: int = 400) -> None:
    """The PNG `frames` as one looping animated GIF, the last frame held three times as long; written atomically."""
    from PIL import Image

    from gan_runner.run_directory import replacing

    images = [Image.open(frame).convert("RGB") for frame in frames]
    durations = [frame_ms] * (len(images) - 1) + [3 * frame_ms]
    with replacing(path) as handle:
        images[0].save(handle, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0,
                       optimize=True)


def loss_curves(rows: list[dict[str, Any]]) -> np.ndarray | None:
    """Every loss, penalty and D output (run_directory.STATISTICS' "losses") of a run's rows against the step, a
    panel per prefix, as uint8 H x W x 3 (None when nothing was logged yet)."""
    figure = loss_figure(rows)
    if figure is None:
        return None
    import matplotlib.pyplot as plt

    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
    plt.close(figure)
    return pixels


def loss_figure(rows: list[dict[str, Any]]) -> Any:
    """loss_curves' matplotlib figure (None when nothing was logged yet). The step axis has at most 6 ticks at round
    steps (matplotlib's MaxNLocator) labelled short (20k, 1.5M): a run of 200,000 steps written out in full had its
    labels run into each other."""
    from gan_runner.run_directory import statistic_section

    keys = sorted({k for row in rows for k in row if statistic_section(k) == "losses"})
    if not keys:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    panels = sorted({k.split("/")[0] for k in keys})
    figure, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), dpi=100, squeeze=False)
    for axis, panel in zip(axes[0], panels):
        for key in (k for k in keys if k.startswith(panel + "/")):
            points = [(row["step"], row[key]) for row in rows if key in row]
            axis.plot(*zip(*points), label=key, linewidth=1)
        axis.set(xlabel="step", title=panel)
        axis.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True, min_n_ticks=2))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda step, _: step_label(step)))
        axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def step_label(step: float) -> str:
    """A step count as an axis label: 500, 1.5k, 20k, 1.2M."""
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if abs(step) >= size:
            return f"{step / size:.4g}{suffix}"
    return f"{step:.4g}"


def save_png(image: np.ndarray, path: Path) -> None:
    """`image` (uint8 H x W x 3) as a PNG, written atomically: a full disk leaves no half picture to trip a reader."""
    from PIL import Image

    from gan_runner.run_directory import replacing

    with replacing(path) as handle:
        Image.fromarray(image).save(handle, format="PNG")


def sample_picture(G_ema: nn.Module, D: nn.Module, fixed: tuple[torch.Tensor, torch.Tensor | None],
                   dataset: Any, sample: Any, seed: int, step: int, objective: Any = None) -> np.ndarray:
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
