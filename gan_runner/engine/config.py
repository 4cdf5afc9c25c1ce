"""Which values of a run's config go together: the combinations the engine's step cannot run, checked before any
work, after the schema's checks of each value on its own (gan_runner/schema.py)."""

from __future__ import annotations

from omegaconf import DictConfig

from gan_runner.errors import UserError
from gan_runner.schema import check_values


def validate(cfg: DictConfig) -> None:
    """Each value in its range (the schema), then the combinations that cannot work."""
    check_values(cfg)
    train = cfg.train
    if train.reuse_fakes and train.n_critic != 1:
        raise UserError(f"train.reuse_fakes=true scores the fakes of the one D update before each G update, but "
                        f"train.n_critic={train.n_critic}. Fix: train.reuse_fakes=false, or train.n_critic=1.")
    if train.simultaneous and (train.n_critic != 1 or train.reuse_fakes or train.critic_bursts.n_critic):
        raise UserError("train.simultaneous=true takes D's and G's updates from one forward pass: one D update a "
                        "step on G's own fakes. Fix: train.n_critic=1, train.reuse_fakes=false and "
                        "train.critic_bursts.n_critic=null, or train.simultaneous=false.")
    if train.g_batch_size is not None and (train.reuse_fakes or train.simultaneous):
        raise UserError(f"train.g_batch_size={train.g_batch_size}, but G's update scores D's own fakes "
                        f"({'train.reuse_fakes=true' if train.reuse_fakes else 'train.simultaneous=true'}), as many "
                        "as D's batch. Fix: train.g_batch_size=null, or the other setting off.")
    if train.momentum_end is not None and "momentum" not in (cfg.optimizer.g or {}):
        raise UserError("train.momentum_end moves the optimisers' momentum, but optimizer.g has none (it is not SGD "
                        "or RMSProp). Fix: optimizer@optimizer.g=sgd optimizer@optimizer.d=sgd, or "
                        "train.momentum_end=null.")
