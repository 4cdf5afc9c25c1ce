"""Training health: numbers that show a GAN failing before its samples do, and detectors that name the failure.

Every log row carries the diagnostics (diagnostics.py): D's accuracy on real and fake samples and its margin, the
gradient norms of G's and D's losses, the largest singular value of every layer, and the diversity of G's samples
relative to the data's. The `health` config group (conf/health/) chooses the detectors, one file each in this
package, with their thresholds as constructor arguments. A detector looks at each log row and each evaluation
and fires once, the first time its symptom has lasted; then the run logs one warning line (the step, what, the
usual fixes) and `health/<detector>` = 1 in that row, and summary.json ends with a one-line verdict ("healthy",
or each problem with the step it started). `health=none` keeps the diagnostics and detects nothing.

The detectors' state (their history of rows) is part of the training state, so a resumed run gives the verdict
an uninterrupted one gives.
"""

from __future__ import annotations

import logging
from typing import Any

from torch import nn

from gan_runner.health.diagnostics import Diversity, margin, spectral_norms

log = logging.getLogger(__name__)


class Streak:
    """Consecutive rows that showed a symptom, and the step of the first of them: what "sustained" means."""

    def __init__(self) -> None:
        self.rows, self.since = 0, None

    def update(self, sick: bool, step: int) -> int:
        """Counts this row in (sick) or ends the streak; returns its length."""
        if sick:
            self.since = step if self.rows == 0 else self.since
            self.rows += 1
        else:
            self.rows, self.since = 0, None
        return self.rows

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "since": self.since}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows, self.since = state["rows"], state["since"]


def movement(values: list[float]) -> tuple[float, float]:
    """How a series of row values (a loss's, oldest first) moved, a row on average: (its whole movement, the mean
    absolute change between consecutive rows; its drift, the mean signed change). The whole splits into what adds up,
    |drift|, and what cancels out, whole - |drift|: the back and forth of swings. A ramp, straight or accelerating,
    only adds up (every change has the same sign); a swing around a level only cancels out."""
    return mean_movement([after - before for before, after in zip(values, values[1:])])


def movement_beyond_one_event(values: list[float]) -> tuple[float, float]:
    """movement() of the same rows with their two largest changes (by size) counted only as large as the third
    largest: what is left of a window once one event is taken out. A single jump to a new level is one large change,
    a single spike two (its rise and its fall); cut down to the size of the window's other changes they leave no
    drift and no swing, however large they were, while a swing that repeats (down, up, down: three large changes)
    or a climb that keeps going (three rows up or more) still shows whole. Needs three changes or more."""
    changes = [after - before for before, after in zip(values, values[1:])]
    third = sorted((abs(change) for change in changes), reverse=True)[2]
    return mean_movement([max(-third, min(change, third)) for change in changes])


def mean_movement(changes: list[float]) -> tuple[float, float]:
    """(the mean |change|, the mean change) of row-to-row changes."""
    return sum(abs(change) for change in changes) / len(changes), sum(changes) / len(changes)


class Detector:
    """A failure to watch for. A subclass names it (`what`, the verdict's words), says what usually helps
    (`fixes`) and implements `look`: given a row's values (a log row's statistics and diagnostics, or an
    evaluation's metrics) and its step, the step where the failure started when it is now established, else None.
    Values a detector does not read are simply absent from some rows (an evaluation has no losses, a critic no
    accuracy); `look` then leaves its history as it was. Its history must be plain data (`state_dict`), which the
    checkpoint keeps."""

    what = "a problem"
    fixes = ""
    remembered: tuple[str, ...] = ()  # the attributes that hold what it learnt from rows: the checkpoint keeps them

    def look(self, values: dict[str, float], step: int) -> int | None:
        raise NotImplementedError

    def detail(self) -> str:
        """The numbers that made it fire, for the warning line."""
        return ""

    def state_dict(self) -> dict[str, Any]:
        state = {}
        for key in self.remembered:
            value = getattr(self, key)
            state[key] = value.state_dict() if isinstance(value, Streak) else value
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in self.remembered:
            if isinstance(getattr(self, key), Streak):
                getattr(self, key).load_state_dict(state[key])
            else:
                setattr(self, key, state[key])


class Health:
    """The diagnostics of each log row and the detectors that read them; the verdict at the end.

    `diversity`: the sample diversity score (None: not computed); `detectors`: by name (conf/health/*.yaml),
    none for health=none."""

    def __init__(self, diversity: Diversity | None = None, detectors: dict[str, Detector] | None = None) -> None:
        self.diversity = diversity
        self.detectors = dict(detectors or {})
        self.events: list[dict[str, Any]] = []  # {"detector", "what", "step", "since", "detail"}, in firing order

    def setup(self, G: nn.Module, D: nn.Module, dataset: Any, generator_inputs: Any) -> None:
        """Before training: the diversity score's fixed inputs and yardstick, and the networks as built shown to the
        detectors as the row of step 0 (their singular values: what "grown" is measured against)."""
        if self.diversity is not None:
            self.diversity.setup(dataset, generator_inputs)  # the game's inputs of G (Diversity.setup)
        self.observe(spectral_norms({"G": G, "D": D}), 0)

    def diagnostics(self, G: nn.Module, D: nn.Module, row: dict[str, float]) -> dict[str, float]:
        """The row's health numbers beyond the steps' own: D's margin, every layer's largest singular value, the
        diversity of G's samples."""
        values = {**margin(row), **spectral_norms({"G": G, "D": D})}
        if self.diversity is not None:
            values["health/diversity"] = self.diversity(G)
        return values

    def observe(self, values: dict[str, float], step: int) -> dict[str, float]:
        """Shows a row (or an evaluation) to every detector that has not fired yet; returns `health/<name>`: 1.0
        for each that fires now, after logging its warning line."""
        fired = {}
        for name, detector in self.detectors.items():
            if any(event["detector"] == name for event in self.events):
                continue
            since = detector.look(values, step)
            if since is None:
                continue
            event = {"detector": name, "what": detector.what, "step": step, "since": since, "detail": detector.detail()}
            self.events.append(event)
            fired[f"health/{name}"] = 1.0
            log.warning("Health, step %d: %s since step %d (%s). Usual fixes: %s", step, detector.what, since,
                        event["detail"], detector.fixes)
        return fired

    def verdict(self) -> str:
        """"healthy", or every problem found with the step it started, earliest first ("not checked" without
        detectors)."""
        if not self.detectors:
            return "not checked"
        if not self.events:
            return "healthy"
        events = sorted(self.events, key=lambda event: event["since"])
        return "; ".join(f"{event['what']} from step {event['since']}" for event in events)

    def summary(self) -> dict[str, Any]:
        """summary.json's `health` (the verdict) and `health_events` (each detector that fired: its name, what, the
        step it fired and the step its symptom began, the numbers behind it)."""
        return {"health": self.verdict(), "health_events": [dict(event) for event in self.events]}

    def state_dict(self) -> dict[str, Any]:
        return {"events": [dict(event) for event in self.events],
                "detectors": {name: detector.state_dict() for name, detector in self.detectors.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.events = [dict(event) for event in state["events"]]
        for name, detector in self.detectors.items():
            if name in state["detectors"]:
                detector.load_state_dict(state["detectors"][name])
