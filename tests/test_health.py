"""Training health: the diagnostics exact on hand-made cases (the largest singular value of known matrices, D's
accuracy on scores chosen by hand, D's margin, the diversity of identical and of real samples), each detector on
hand-made rows (fires once, at the right step, never on flat rows), each detector on a real run made to fail its
way, silence on the healthy defaults, the verdict in summary.json and through a resume, and gan-report's column."""

from __future__ import annotations

import copy
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from gan_runner.data.toy import Ring
from gan_runner.errors import UserError
from gan_runner.health import Health
from gan_runner.health.diagnostics import Diversity, largest_singular_value, layer_weights, margin, spectral_norms
from gan_runner.health.discriminator_wins import DiscriminatorWins
from gan_runner.health.loss_runaway import LossRunaway
from gan_runner.health.mode_collapse import ModeCollapse
from gan_runner.health.oscillation import Oscillation
from gan_runner.health.spectral_blowup import SpectralBlowup
from gan_runner.latent import STANDARD_NORMAL
from gan_runner.objectives.hinge import Hinge
from gan_runner.objectives.lsgan import LeastSquares
from gan_runner.objectives.minimax import Minimax
from gan_runner.objectives.wgan import Wasserstein
from gan_runner.run_directory import Checkpoint
from gan_runner.engine.step import UpdateInputs, Updates, d_step
from gan_runner.engine.loop import train
from tests.conftest import SHRINK, TINY, make_config

torch.set_num_threads(1)


def test_largest_singular_value_of_known_matrices() -> None:
    assert largest_singular_value(torch.diag(torch.tensor([3.0, 2.0, 1.0]))).item() == pytest.approx(3.0, rel=1e-5)
    matrix = torch.randn(7, 5, generator=torch.Generator().manual_seed(1))
    assert largest_singular_value(matrix).item() == pytest.approx(torch.linalg.matrix_norm(matrix, 2).item(), rel=1e-3)
    filters = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(2))  # viewed as 4 x 27
    expected = torch.linalg.matrix_norm(filters.flatten(1), 2).item()
    assert largest_singular_value(filters).item() == pytest.approx(expected, rel=1e-3)


def test_every_layer_but_lookup_tables_and_norms_is_measured() -> None:
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    assert list(layer_weights(model)) == ["1", "3"]
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(8, 4) * 5)
        model[3].weight.copy_(torch.full((1, 8), 0.5))
    values = spectral_norms({"D": model})
    assert values["sigma/D/1"] == pytest.approx(5.0, rel=1e-5)
    assert values["sigma/D/3"] == pytest.approx(0.5 * 8 ** 0.5, rel=1e-5)
    assert values["sigma/D"] == pytest.approx(5.0, rel=1e-5)


class Fixed(nn.Module):
    """A generator whose samples are given."""

    def __init__(self, samples: torch.Tensor) -> None:
        super().__init__()
        self.samples = samples

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.samples


class Identity(nn.Module):
    """A discriminator whose score of a 1-D sample is the sample: scores chosen by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))  # an optimiser needs one

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return x[:, 0] + 0 * self.unused


@pytest.mark.parametrize("objective, threshold", [(Minimax(), 0.0), (Hinge(), 0.0), (LeastSquares(), 0.5)])
def test_discriminator_accuracy_on_hand_made_scores(objective, threshold: float) -> None:
    D = Identity()
    real = torch.tensor([[2.0], [threshold + 0.1], [threshold - 0.1], [-3.0]])  # 2 of 4 above the threshold
    fake = torch.tensor([[-1.0], [threshold - 0.2], [5.0]])                      # 2 of 3 below it
    stats = d_step(Updates(Fixed(fake), D, objective, {}), torch.optim.SGD(D.parameters(), lr=0.0),
                   UpdateInputs(real, None, torch.zeros(3, 1), None), 0)
    assert stats["d/accuracy_real"].item() == pytest.approx(0.5)
    assert stats["d/accuracy_fake"].item() == pytest.approx(2 / 3)
    critic_stats = d_step(Updates(Fixed(fake), D, Wasserstein(), {}), torch.optim.SGD(D.parameters(), lr=0.0),
                          UpdateInputs(real, None, torch.zeros(3, 1), None), 0)
    assert "d/accuracy_real" not in critic_stats  # a critic's scores have no decision threshold


def test_a_run_logs_accuracies_and_spectral_norms(tmp_path: Path) -> None:
    train(make_config(*SHRINK, "dataset=ring8", *TINY, "train.steps=40", "train.log_every=20",
                      "regulariser=[spectral_norm]"), tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]
    assert 0 <= last["d/accuracy_real"] <= 1 and 0 <= last["d/accuracy_fake"] <= 1
    d_layers = [v for k, v in last.items() if k.startswith("sigma/D/")]
    assert len(d_layers) == 4 and last["sigma/D"] == max(d_layers)  # depth 3: three hidden layers and the output
    # Spectral normalisation divides each of D's weights by its sigma estimate: what is left has sigma near 1.
    assert all(0.9 < v < 1.1 for v in d_layers), d_layers
    assert last["sigma/G"] > 0 and any(k.startswith("sigma/G/") for k in last)


def test_margin_is_the_mean_score_on_real_minus_on_fake() -> None:
    assert margin({"d/real": 2.5, "d/fake": -0.75}) == {"d/margin": 3.25}
    assert margin({"loss/d": 1.0}) == {}  # an evaluation row


def diversity_on(dataset: object, features: int = 128) -> Diversity:
    diversity = Diversity(samples=64, features=features, seed=5)
    diversity.setup(dataset, lambda batch, n, rng: (STANDARD_NORMAL.sample(n, 8, generator=rng), None))
    return diversity


def test_diversity_of_identical_samples_is_0_and_of_the_real_batch_is_1() -> None:
    ring = Ring()
    diversity = diversity_on(ring)
    real, _ = next(ring.batches(64, torch.Generator().manual_seed(5)))  # the score's own real batch
    assert diversity(Fixed(real)) == 1.0
    assert diversity(Fixed(torch.tensor([[0.3, -0.2]]).repeat(64, 1))) == 0.0
    fresh, _ = ring.sample(64, torch.Generator().manual_seed(99))
    assert diversity(Fixed(fresh)) == pytest.approx(1.0, abs=0.1)  # another real batch: 1 up to sampling noise
    # Half the samples on one mode, half on the opposite one: their mean distance is 2 x 32 x 32 / (64 x 63 / 2)
    # pairs of distance 2, against the ring's 1.26 for 8 equal modes.
    halves = torch.cat([ring.centres[:1].repeat(32, 1), ring.centres[4:5].repeat(32, 1)])
    expected = (32 * 32 * 2.0) / (64 * 63 / 2) / diversity.real
    assert diversity(Fixed(halves)) == pytest.approx(expected, rel=1e-9)


def test_diversity_of_images_projected_at_random_keeps_the_pixel_ratio() -> None:
    from gan_runner.data.digits import Digits

    digits = Digits(resolution=8)
    raw, projected = diversity_on(digits, features=128), diversity_on(digits, features=16)
    assert raw.projection is None and projected.projection.shape == (64, 16)
    real, _ = next(digits.batches(64, torch.Generator().manual_seed(5)))
    assert projected(Fixed(real)) == 1.0
    blurred = real * 0.5 + real.mean(0, keepdim=True) * 0.5  # every distance halved exactly
    assert raw(Fixed(blurred)) == pytest.approx(0.5, rel=1e-5)
    assert projected(Fixed(blurred)) == pytest.approx(0.5, rel=1e-5)  # a linear map halves them too
    assert projected(Fixed(real[:1].repeat(64, 1, 1, 1))) == 0.0


def test_the_diversity_score_leaves_g_in_training_mode_and_the_rng_alone() -> None:
    G = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Linear(16, 2))
    G.forward = lambda z, y=None: nn.Sequential.forward(G, z)  # a generator's signature
    diversity = diversity_on(Ring())
    state = torch.get_rng_state()
    statistics = G[1].running_mean.clone()
    first = diversity(G)
    assert G.training and torch.equal(torch.get_rng_state(), state)
    assert torch.equal(G[1].running_mean, statistics)  # eval mode: batch norm's statistics untouched
    assert diversity(G) == first


def replay(detector: object, rows: list[dict[str, float]], every: int = 100) -> Health:
    """A Health with one detector, shown the rows at steps every, 2 every, ..."""
    health = Health(detectors={"under_test": detector})
    for number, row in enumerate(rows, 1):
        health.observe(row, number * every)
    return health


def fired(health: Health) -> list[tuple[int, int]]:
    return [(event["step"], event["since"]) for event in health.events]


def test_discriminator_wins_fires_once_when_accuracy_and_the_gradient_collapse() -> None:
    balanced = {"d/accuracy_real": 0.6, "d/accuracy_fake": 0.55, "grad_norm/g": 1.0}
    winning = {"d/accuracy_real": 0.99, "d/accuracy_fake": 0.98, "grad_norm/g": 0.05}
    rows = [balanced] * 5 + [winning] * 4 + [balanced] + [winning] * 8
    health = replay(DiscriminatorWins(accuracy=0.95, gradient_drop=0.1, patience=5), rows)
    assert fired(health) == [(1500, 1100)]  # rows 11-15: the first five in a row; the 4 before were interrupted
    assert health.verdict() == "discriminator wins from step 1100"
    flat = [{**winning, "grad_norm/g": 1.0}] * 20  # D always right but G's gradient as strong as ever
    assert fired(replay(DiscriminatorWins(gradient_drop=0.1), flat)) == []
    assert fired(replay(DiscriminatorWins(), flat)) == [(500, 100)]  # the default: the accuracy alone, 5 rows
    critic = [{"grad_norm/g": 1.0}] * 5 + [{"grad_norm/g": 0.001}] * 20  # no accuracy: a critic
    assert fired(replay(DiscriminatorWins(), critic)) == []


def test_mode_collapse_fires_on_diversity_lost_or_a_falling_mode_count() -> None:
    rows = [{"health/diversity": 0.1}] * 3 + [{"health/diversity": 1.0}] * 9 + [{"health/diversity": 0.3}] * 6
    health = replay(ModeCollapse(diversity=0.5, patience=5, warmup=10), rows)
    assert fired(health) == [(1700, 1300)]
    never_spread = [{"health/diversity": 0.03}] * 30  # a G that never learned is not a collapsed one
    assert fired(replay(ModeCollapse(), never_spread)) == []
    assert fired(replay(ModeCollapse(), [{"health/diversity": 1.0}] * 30)) == []
    evaluations = [{"toy/modes": 6.0}, {"toy/modes": 8.0}, {"toy/modes": 7.0}, {"toy/modes": 5.0}, {"toy/modes": 1.0}]
    assert fired(replay(ModeCollapse(coverage_drop=0.75), evaluations)) == [(400, 400)]  # 5 <= 0.75 x 8; 7 is not
    assert fired(replay(ModeCollapse(), [{"digits/classes": 0.0}] * 3)) == []  # nothing found is no fall


def test_oscillation_fires_on_growing_swings_not_on_steady_ones_or_a_drift() -> None:
    def swinging(amplitudes: list[float]) -> list[dict[str, float]]:
        return [{"loss/d": 1.0 + a * (-1) ** k, "loss/g": 0.7} for k, a in enumerate(amplitudes)]

    rows = swinging([0.01] * 30 + [0.1] * 10)  # the swing grows tenfold at row 31
    health = replay(Oscillation(window=10, growth=3.0, floor=0.01, patience=5), rows)
    (step, since), = fired(health)
    # Row 31's change is 0.11 where the rows before changed by 0.02. At row 33 the window's mean change is
    # 0.02 x 7/10 + (0.11 + 0.2 + 0.2)/10 = 0.065, but 0.009 of it adds up (from 1.01 at row 23 to 1.1), so what
    # swings is 0.056, under 3 x 0.02; at row 34, 0.083 - 0.009 = 0.074 passes it, and five rows later it fires.
    assert (step, since) == (3800, 3400)
    assert health.events[0]["detail"].startswith("loss/d swings ")
    assert fired(replay(Oscillation(), swinging([0.2] * 60))) == []  # steady swings
    drift = [{"loss/d": 1.0 + 0.05 * k, "loss/g": 3.0 - 0.05 * k} for k in range(60)]
    assert fired(replay(Oscillation(), drift)) == []
    tiny = swinging([0.0005] * 30 + [0.003] * 30)  # six-fold, but below the floor
    assert fired(replay(Oscillation(floor=0.01), tiny)) == []


def jittering(rows: int, level: float = 1.0, jitter: float = 0.01, seed: int = 0) -> list[float]:
    """A loss that stays at `level`, its row means off by up to `jitter` at random: how a healthy loss moves."""
    generator = random.Random(seed)
    return [level + generator.uniform(-jitter, jitter) for _ in range(rows)]


def losses(d: list[float], g: list[float]) -> list[dict[str, float]]:
    return [{"loss/d": a, "loss/g": b} for a, b in zip(d, g, strict=True)]


def both(rows: list[dict[str, float]]) -> dict[str, list[tuple[int, int]]]:
    """What each of the two loss detectors, at its defaults, makes of the rows."""
    return {"oscillation": fired(replay(Oscillation(), rows)), "loss_runaway": fired(replay(LossRunaway(), rows))}


def test_a_steady_ramp_is_a_runaway_not_an_oscillation() -> None:
    """loss/g jitters by 0.01 for 30 rows (its changes alternate: 0.02 a row), then climbs 0.1 a row."""
    g = [1.0 + 0.01 * (-1) ** k for k in range(1, 31)] + [1.0 + 0.1 * j for j in range(1, 31)]
    health = replay(LossRunaway(window=10, growth=3.0, floor=0.01, one_way=0.5, patience=5),
                    losses(jittering(60), g))
    # Row 36's window runs from 1.01 (row 26) to 1.6: 0.059 a row, under 3 x 0.02; row 37's from 0.99 to 1.7, 0.071
    # a row, passes it (and is most of the window's 0.075 mean change), and five rows later it fires.
    assert fired(health) == [(4100, 3700)]
    assert health.events[0]["detail"].startswith("loss/g rising 0.1 a row over the last 10 rows, from 1.1 to 2.1")
    assert fired(replay(Oscillation(), losses(jittering(60), g))) == []  # every change of the climb is upwards


def test_an_accelerating_climb_or_fall_is_a_runaway_not_an_oscillation() -> None:
    """The shape of an unconstrained critic's losses: G's rising ever faster (WGAN's loss/g went from 277 at step
    1,200 to 2,040 at 1,500), D's falling ever faster."""
    calm = jittering(20)
    accelerating = calm + [calm[-1] + 0.01 * (1.2 ** j - 1) for j in range(1, 41)]
    other = jittering(60, seed=1)
    for rows, key, way in [(losses(other, accelerating), "loss/g", "rising"),
                           (losses([-value for value in accelerating], other), "loss/d", "falling")]:
        health = replay(LossRunaway(), rows)
        (event,) = health.events
        assert event["detail"].startswith(f"{key} {way} ") and health.verdict().startswith("loss runaway from step")
        assert fired(replay(Oscillation(), rows)) == []


def test_growing_swings_are_an_oscillation_not_a_runaway() -> None:
    """After 20 calm rows, loss/d swings up and down by 0.01 x 1.3^j (the unconstrained critic's swings grew
    1.5-fold a row): ever wider, so every window of 10 ends higher or lower than it began by most of its last swing,
    which soon outgrows the loss's usual movement. Only a fraction of the window's movement, though: no runaway."""
    calm = jittering(20)
    swings = [calm[-1] + 0.01 * 1.3 ** j * (-1) ** j for j in range(1, 41)]
    found = both(losses(calm + swings, jittering(60, seed=1)))
    assert found["loss_runaway"] == [] and len(found["oscillation"]) == 1


def test_a_noisy_plateau_is_neither() -> None:
    """Row means that jitter at random around a level for 200 rows, with a slow drift, as healthy runs' do."""
    d = [value + 0.0002 * k for k, value in enumerate(jittering(200, level=1.38, jitter=0.02, seed=3))]
    g = jittering(200, level=0.7, jitter=0.05, seed=4)
    assert both(losses(d, g)) == {"oscillation": [], "loss_runaway": []}


def test_a_single_spike_is_no_oscillation_but_a_repeated_one_is() -> None:
    """In a quiet loss (row means jittering by 0.01: its usual movement about 0.007 a row) one row jumps 0.15 up and
    the next is back: a rise and a fall 20x the usual movement, which stay in the window for 10 rows and cancel out
    there, as swings do. An oscillation is a swing that repeats; one spike is an event. A second spike 3 rows after
    the first is a swing repeated."""
    d, g = jittering(60), jittering(60, seed=1)
    spike = d[:30] + [d[30] + 0.15] + d[31:]
    assert both(losses(spike, g)) == {"oscillation": [], "loss_runaway": []}
    twice = spike[:33] + [spike[33] + 0.15] + spike[34:]
    assert len(both(losses(twice, g))["oscillation"]) == 1


def test_a_single_level_shift_is_no_runaway_but_a_climb_that_goes_on_is() -> None:
    """In a quiet loss one change of 0.5 (about 70x its usual movement) and a new level after it, flat: the window
    holding the jump drifts 0.05 a row for 10 rows, but the loss climbed once and stopped. A runaway is a climb that
    keeps going: the same 0.5 over five rows in a row is one (0.1 a row, as the steady ramp above climbs)."""
    d, g = jittering(60), jittering(60, seed=1)
    shifted = g[:30] + [value + 0.5 for value in g[30:]]
    assert both(losses(d, shifted)) == {"oscillation": [], "loss_runaway": []}
    climbing = g[:30] + [value + 0.1 * min(k, 5) for k, value in enumerate(g[30:], 1)]
    assert len(both(losses(d, climbing))["loss_runaway"]) == 1


def test_spectral_blowup_fires_on_sigma_growing_without_levelling() -> None:
    growing = [{"sigma/G": 1.0, "sigma/D": 2.0}] * 5 + [{"sigma/G": 1.0, "sigma/D": 2.0 * 1.25 ** k}
                                                          for k in range(1, 30)]
    health = replay(SpectralBlowup(growth=10.0, rise=1.05, patience=5), growing)
    # sigma/D reaches 10 x its initial 2.0 (the first row's) at 1.25^k >= 10, k = 11 (row 16), rising all along.
    assert fired(health) == [(2000, 1600)]
    levelled = [{"sigma/D": 2.0 * min(1.25 ** k, 30.0)} for k in range(40)]  # 30x, then flat
    assert fired(replay(SpectralBlowup(patience=20), levelled)) == []
    assert fired(replay(SpectralBlowup(), [{"sigma/D": 2.0}] * 40)) == []


@pytest.mark.parametrize("detector, rows", [
    (DiscriminatorWins(), [{"d/accuracy_real": 0.5, "d/accuracy_fake": 0.5, "grad_norm/g": 1.0}] * 3
     + [{"d/accuracy_real": 1.0, "d/accuracy_fake": 1.0, "grad_norm/g": 0.01}] * 8),
    (Oscillation(), [{"loss/d": 1.0 + (0.01 if k < 20 else 0.3) * (-1) ** k, "loss/g": 0.7} for k in range(40)]),
    (LossRunaway(), [{"loss/d": 1.0 + 0.01 * (-1) ** k, "loss/g": 0.7 + 0.01 * (-1) ** k + 0.1 * max(k - 19, 0)}
                     for k in range(40)]),
])
def test_a_detector_restored_from_its_state_goes_on_as_if_never_stopped(detector: object, rows: list) -> None:
    whole = replay(copy.deepcopy(detector), rows)
    for cut in range(1, len(rows)):
        first = replay(copy.deepcopy(detector), rows[:cut])
        state = torch.load(io_round_trip(first.state_dict()), weights_only=True)  # as a checkpoint holds it
        resumed = Health(detectors={"under_test": copy.deepcopy(detector)})
        resumed.load_state_dict(state)
        for number, row in enumerate(rows[cut:], cut + 1):
            resumed.observe(row, number * 100)
        assert resumed.events == whole.events and resumed.verdict() == whole.verdict() != "healthy"


def io_round_trip(state: dict) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer


def test_bad_thresholds_are_refused_with_the_key_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="health: mode_collapse needs 0 < diversity < 1"):
        train(make_config(*SHRINK, "dataset=ring8", *TINY, "health.detectors.mode_collapse.diversity=2"),
              tmp_path)


# Runs on ring8 (its defaults: MLP, non-saturating loss, gp0, TTUR) made to fail one way each, a few seconds apiece.
QUIET = ["dataset=ring8", "logger=none", "train.device=cpu", "train.sample_every=100000",
         "train.checkpoint_every=100000"]
FAILING = {
    # G frozen (lr_g near 0: 0 is refused) against a D that learns: with the saturating loss G's gradient vanishes.
    "discriminator_wins": (DiscriminatorWins, ["objective=minimax", "regulariser=none", "train.lr_g=1e-8",
                                               "train.steps=350", "train.lr_end_factor=1.0"]),
    # The non-saturating loss without a penalty, seed 1: 5 modes at step 250, 2-3 by 1,000 (counted every 250 steps);
    # with no metric, the diversity score sees the same collapse (0.96 at its best, under half of it from step
    # ~800). When it sets in depends on the CPU's arithmetic (on an Intel Xeon 3 modes at 500; on an AMD EPYC 4-5 at
    # 600): the runs go on well past it on both.
    "mode_collapse": (ModeCollapse, ["regulariser=none", "seed=1", "train.steps=1000", "train.lr_end_factor=1.0",
                                     "metrics.every=250"]),
    "mode_collapse_diversity": (ModeCollapse, ["regulariser=none", "seed=1", "train.steps=1400",
                                               "train.lr_end_factor=1.0", "metrics=none"]),
    # WGAN without a Lipschitz constraint at half ring8's learning rates: calm for 1,100 steps (D's loss moves
    # about 0.03 a row), then the critic's loss swings up and down ever wider (Mescheder et al. 2018's spiral out), 1
    # a row back and forth by step 1,400. Its first large change (step 1,200) is one jump; the swing repeats from step
    # 1,250, and oscillation fires five rows later, at 1,450 (on an Intel Xeon). G's loss runs away upwards at the
    # same time, so loss_runaway fires too.
    "oscillation": (Oscillation, ["objective=wgan", "regulariser=none", "train.lr_g=5e-4", "train.lr_d=1e-3",
                                  "train.steps=1600", "train.lr_end_factor=1.0"]),
    # WGAN without a Lipschitz constraint at ring8's rates (gan-run dataset=ring8 objective=wgan regulariser=none):
    # G's loss climbs from the start and ever faster, every row higher than the one before from step 1,200 (277
    # there, 1,064 at 1,400); the critic's falls. One way, not back and forth: a runaway, and no oscillation.
    "loss_runaway": (LossRunaway, ["objective=wgan", "regulariser=none", "train.steps=1400",
                                   "train.lr_end_factor=1.0"]),
    # ring8's defaults with ten times its learning rates: G's largest singular value runs away.
    "spectral_blowup": (SpectralBlowup, ["train.lr_g=2e-2", "train.lr_d=2e-2", "train.steps=600",
                                         "train.lr_end_factor=1.0"]),
}

# What a failing run's warning must name (the loss and how it moves), and what the run must not be called besides:
# the unconstrained WGAN's climbing loss is no oscillation (the first oscillation detector said "swings" of it).
SAYS = {"oscillation": "loss/d swings", "loss_runaway": "loss/g rising"}
NOT_ALSO = {"loss_runaway": Oscillation}


def rows_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("case", FAILING)
def test_each_detector_fires_once_on_a_run_made_to_fail_its_way(case: str, tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    detector, overrides = FAILING[case]
    with caplog.at_level("WARNING", logger="gan_runner.health"):
        summary = train(make_config(*QUIET, *overrides), tmp_path)
    key = case.removesuffix("_diversity")
    (flagged,) = [row for row in rows_of(tmp_path) if f"health/{key}" in row]  # once
    assert f"{detector.what} from step" in summary["health"]
    assert json.loads((tmp_path / "summary.json").read_text())["health"] == summary["health"]
    (warning,) = [record.getMessage() for record in caplog.records if detector.what in record.getMessage()]
    assert warning.startswith(f"Health, step {flagged['step']}: {detector.what} since step ")
    assert f"Usual fixes: {detector.fixes}" in warning and "\n" not in warning
    assert SAYS.get(case, "") in warning
    assert case not in NOT_ALSO or NOT_ALSO[case].what not in summary["health"]


def test_the_verdict_of_a_resumed_run_is_that_of_an_uninterrupted_one(tmp_path: Path) -> None:
    """D starts winning at step 100 and the detector fires five rows later, at 300: resumed from step 200, its
    streak must go on from the checkpoint rather than start again."""
    overrides = [o for o in [*QUIET, *FAILING["discriminator_wins"][1]] if not o.startswith("train.steps=")]
    whole = train(make_config(*overrides, "train.steps=350"), tmp_path / "whole")
    assert whole["health"] == "discriminator wins from step 100"
    first = train(make_config(*overrides, "train.steps=200"), tmp_path / "parts")  # its last checkpoint: step 200
    assert first["health"] == "healthy"  # three rows of the streak so far
    resumed = train(make_config(*overrides, "train.steps=350"), tmp_path / "parts",
                    resume=Checkpoint.load(tmp_path / "parts" / "checkpoints" / "last.pt"))
    assert resumed["health"] == whole["health"]
    flags = [[row["step"] for row in rows_of(tmp_path / run) if "health/discriminator_wins" in row]
             for run in ("whole", "parts")]
    assert flags == [[300], [300]]


def test_health_none_keeps_the_diagnostics_and_detects_nothing(tmp_path: Path) -> None:
    summary = train(make_config(*QUIET, *FAILING["discriminator_wins"][1], "health=none"), tmp_path)
    assert summary["health"] == "not checked"
    last = [row for row in rows_of(tmp_path) if "loss/d" in row][-1]
    assert last["d/margin"] == pytest.approx(last["d/real"] - last["d/fake"])
    assert {"health/diversity", "sigma/G", "d/accuracy_real", "grad_norm/g"} <= set(last)
    assert not any(key.startswith("health/") and key != "health/diversity" for row in rows_of(tmp_path) for key in row)


@pytest.mark.slow
def test_the_healthy_defaults_of_ring8_and_digits_stay_silent_over_full_runs(tmp_path: Path) -> None:
    """gan-run dataset=ring8 (4,000 steps) and gan-run (digits, 20,000 steps), as a user types them: minutes on a
    CPU, so side by side, a thread each (about 200 s on 2 cores, where one after the other took 256 s)."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    runs = {name: subprocess.Popen([str(Path(sys.executable).parent / "gan-run"), *overrides, "logger=none",
                                    "train.device=cpu", f"hydra.run.dir={tmp_path / name}"], env=environment,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for name, overrides in {"ring8": ["dataset=ring8"], "digits": []}.items()}
    for name, process in runs.items():
        _, errors = process.communicate(timeout=1200)
        assert process.returncode == 0, (name, errors[-2000:])
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["health"] == "healthy", (name, summary["health"])


def test_reading_the_singular_values_leaves_spectral_norms_vectors_alone() -> None:
    """A log row must not change training: in training mode every read of a spectrally normalised weight would
    refine its power-iteration vectors, so rows every step and every 100 steps would train differently."""
    from gan_runner.regularisers.spectral_norm import apply_spectral_norm

    D = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    apply_spectral_norm(D)
    before = {k: v.clone() for k, v in D.state_dict().items()}
    spectral_norms({"D": D})
    assert D.training and all(torch.equal(before[k], v) for k, v in D.state_dict().items())
