"""The pictures of a run that are not sample grids: loss_curves.png's step axis stays readable however long the run."""

from __future__ import annotations

import math
import re

import pytest

from gan_runner import pictures


@pytest.mark.parametrize("steps", [180_000, 1_300_000])
def test_a_long_runs_loss_curves_have_short_step_labels_that_do_not_overlap(steps: int) -> None:
    """A long run's rows (2,000 of them): the step axis of every panel gets a few round ticks labelled like '40k' or
    '1.2M', whose drawn boxes (the figure's renderer) leave room between them. matplotlib's defaults put 8 labels
    from 0 to 175000 on a panel, each running into the next, and write 1,300,000 steps as 0.0-1.2 with an offset."""
    every = steps // 2000
    rows = [{"step": step, "loss/d": 1.0 + 0.1 * math.sin(step / 5000), "loss/g": 0.7 - 0.1 * math.cos(step / 7000),
             "d/real": 0.5, "d/fake": -0.5} for step in range(every, steps + 1, every)]
    figure = pictures.loss_figure(rows)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    assert len(figure.axes) == 2  # d/ and loss/
    for axis in figure.axes:
        low, high = axis.get_xlim()
        shown = [label for label in axis.get_xticklabels()
                 if label.get_visible() and label.get_text() and low <= label.get_position()[0] <= high]
        assert len(shown) >= 3
        assert all(re.fullmatch(r"0|\d+(\.\d+)?[kM]", label.get_text()) for label in shown), [
            label.get_text() for label in shown]
        boxes = sorted((label.get_window_extent(renderer) for label in shown), key=lambda box: box.x0)
        for left, right in zip(boxes, boxes[1:]):
            assert right.x0 - left.x1 >= 5, [label.get_text() for label in shown]  # at least 5 pixels apart
    pixels = pictures.loss_curves(rows)  # what loss_curves.png holds: the same figure, drawn
    assert pixels.shape == (350, 900, 3)
