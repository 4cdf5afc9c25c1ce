"""Games: what is particular to a kind of GAN (conf/game/ picks one, as conf/arch/ picks networks). A game owns

- `kind`: its name, written into every checkpoint (a checkpoint of another game is refused in one paragraph),
- `check(cfg, dataset)`: refuses, before anything is built, a dataset (or config) it cannot train on,
- `networks(cfg, dataset, num_classes)`: G and D built from the arch group with the inputs this game gives them,
- `input_stream(data, cfg, num_classes, device, latent)`: the inputs of each update (an object with `next()` and
  `for_generator(last)`, as gan_runner.engine.step.InputStream), built on the dataset's batches,
- `generator_terms(inputs, fake)`: its own terms of G's loss, name -> (term, raw) (None: none), and
  `adversarial_weight`, the objective's share of G's loss (1.0),
- `updates(step, next_inputs, for_generator, g_steps_done, n_critic)`: the order of one step's updates (most games
  call `step.alternating`: n_critic D updates, then G's),
- `sampler(G, cfg, dataset, seed, device)`: what evaluation measures, a function n, rows -> batches of G's outputs
  (gan_runner/metrics/__init__.py's Sampler),
- `fixed_inputs(cfg, dataset, num_classes, device, latent)` and `picture(...)`: the run's sample pictures,
- `diversity_inputs(cfg, num_classes, latent)`: G's fixed inputs for the health diversity score,
- `graph_refusals()`: why a CUDA graph cannot record its step (none: it can),
- `phase(state)`, `enter_phase(state, phase)`, `batch_size(cfg, state)`, `before_step(state)`: a game whose work
  changes as training goes (progressive growing's resolutions): the loop enters each new phase before the first step
  of it and builds the step anew (data at the phase's batch size, a CUDA graph recorded again); `before_step` sets
  what changes from step to step within a phase (the fade-in's alpha). Defaults: one phase, None, forever,
- `state_parts(cfg)`: what the game itself changes as it trains, by checkpoint key, each with state_dict() and
  load_state_dict() (CycleGAN's history pools); the training state holds and checkpoints them (default: none).

The engine (loop, step, checkpoint, resume, torchrun, CUDA graphs, metrics cadence, health, logging) calls these
and names no game. docs/games.md says how a game is built and how to add one."""

from __future__ import annotations

from typing import Any


class Game:
    """The defaults every game shares: no terms of its own in G's loss, the alternating order of updates, nothing
    that keeps a CUDA graph from recording its step."""

    kind = "game"
    generator_terms = None
    adversarial_weight = 1.0

    def check(self, cfg: Any, dataset: Any) -> None:
        """Raises UserError when this game cannot train on `dataset`."""

    def updates(self, step: Any, next_inputs: Any, for_generator: Any, g_steps_done: int, n_critic: int) -> list:
        return step.alternating(next_inputs, for_generator, g_steps_done, n_critic)

    def graph_refusals(self) -> list[str]:
        return []

    def phase(self, state: Any) -> Any:
        """Which phase of training the next step belongs to (hashable; state.phase keeps the current one)."""
        return None

    def enter_phase(self, state: Any, phase: Any) -> None:
        """Called by the loop before the first step of a new phase (before the step is built anew)."""

    def global_batches(self, cfg: Any, dataset: Any) -> dict[str, int]:
        """Every global batch size of D's updates the run will use on `dataset`, by the config key that sets it
        (checked against the dataset's size before anything trains)."""
        return {"train.batch_size": int(cfg.train.batch_size)}

    def batch_size(self, cfg: Any, state: Any) -> int:
        """The global batch size of D's updates in the state's phase (the data, StepSettings, images seen)."""
        return int(cfg.train.batch_size)

    def state_parts(self, cfg: Any) -> dict[str, Any]:
        """The game's own training state by checkpoint key (objects with state_dict and load_state_dict), built once
        per run; its updates find them in `step.state.game_parts`."""
        return {}

    def before_step(self, state: Any) -> None:
        """Called at the start of every step, outside any recorded CUDA graph: settings that move within a phase."""
