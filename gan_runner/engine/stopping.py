"""How a run ends early: a signal asking it to stop (pre-emption, Ctrl-C), or numbers that went bad.

Signals only raise a flag; the loop looks at it between steps, so the step in flight finishes and the
checkpoint written afterwards is consistent. A second signal stops at once (the atomic checkpoint
writes keep `last.pt` loadable even then).
"""

from __future__ import annotations

import signal
from types import FrameType, TracebackType

import torch
from torch import nn

from gan_runner import distributed

# SIGUSR1 is what SLURM sends ahead of pre-emption (`#SBATCH --signal=USR1@90`); SIGUSR2 is what submitit asks
# SLURM to send ahead of a time-out (the slurm launcher preset), and what submitit's local executor sends.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)


class StopSignals:
    """While active, SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 set `received` instead of killing the process."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:  # asked twice: the user means now
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}")
        self.received = signal.Signals(signum)

    def agreed(self) -> signal.Signals | None:
        """The signal received by this process or by any other of the run: the same answer on every process, so
        all stop at the same step."""
        number = distributed.max_over_ranks(self.received.value if self.received is not None else 0)
        if number and self.received is None:
            self.received = signal.Signals(number)
        return self.received if number else None

    def __enter__(self) -> StopSignals:
        for signum in STOP_SIGNALS:
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread (e.g. some launchers): signals cannot be caught here
                break
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class Diverged(Exception):
    """A loss or a parameter stopped being a finite number. `first_bad_step`: the first step whose statistics were not
    finite, when the statistics found it (they are checked at log rows and checkpoints, so the run stops later, at
    the step of that check: the step every report of the run names)."""

    def __init__(self, quantity: str, value: float, first_bad_step: int | None = None) -> None:
        super().__init__(quantity, value)
        self.quantity, self.value, self.first_bad_step = quantity, value, first_bad_step

    def __str__(self) -> str:
        since = f" (not finite since step {self.first_bad_step})" if self.first_bad_step is not None else ""
        return f"{self.quantity} was {self.value}{since}"


def check_parameters(models: dict[str, nn.Module]) -> None:
    """Raises Diverged naming the first parameter holding a NaN or an infinity (one fetch from the device
    when all is well)."""
    named = [(f"{model_name}.{name}", p.detach()) for model_name, model in models.items()
             for name, p in model.named_parameters()]
    finite = torch.stack([p.isfinite().all() for _, p in named])
    if not finite.all():
        name, parameter = named[int((~finite).nonzero()[0])]
        raise Diverged(name, parameter[~parameter.isfinite()][0].item())
